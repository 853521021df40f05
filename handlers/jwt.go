package handlers

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
)

// unverifiedIssuer reads the iss claim of a JWT without verifying it. It
// only routes the token to the provider whose keys must then verify it.
func unverifiedIssuer(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Iss
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

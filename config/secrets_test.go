package config

import (
	"strings"
	"testing"
)

// TestSecretsKey: secrets.key is 32 bytes of base64, ${VAR} expanded; a
// bad one stops the start with an error naming the key.
func TestSecretsKey(t *testing.T) {
	const key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=" // 32 bytes of 1
	cfg, err := loadYAML(t, "secrets:\n  key: ${GH_KEY}\n", map[string]string{"GH_KEY": key})
	if err != nil || cfg.Secrets.Key != key {
		t.Fatalf("key: %+v %v", cfg.Secrets, err)
	}
	for yaml, want := range map[string]string{
		"secrets:\n  key: c2hvcnQ=\n":        "secrets.key: decodes to 5 bytes, want 32",
		"secrets:\n  key: \"not base64!\"\n": "secrets.key: is not base64",
		"secrets:\n  keys: x\n":              "secrets.keys (line 2): unknown key",
	} {
		if _, err := loadYAML(t, yaml, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", yaml, err, want)
		}
	}
}

// TestMFARequiredFor: none (the default), admins or all; anything else is
// an error naming the key. A provider's mfa_amr and mfa_acr decode.
func TestMFARequiredFor(t *testing.T) {
	cfg, err := loadYAML(t, "listen: 127.0.0.1:8080\n", nil)
	if err != nil || cfg.MFA.RequiredFor != "none" {
		t.Fatalf("default: %q %v", cfg.MFA.RequiredFor, err)
	}
	for _, v := range []string{"none", "admins", "all"} {
		if cfg, err := loadYAML(t, "mfa:\n  required_for: "+v+"\n", nil); err != nil || string(cfg.MFA.RequiredFor) != v {
			t.Errorf("%s: %q %v", v, cfg.MFA.RequiredFor, err)
		}
	}
	if _, err := loadYAML(t, "mfa:\n  required_for: everyone\n", nil); err == nil || !strings.Contains(err.Error(), `mfa.required_for: "everyone" must be none, admins or all`) {
		t.Errorf("bad value: %v", err)
	}
}

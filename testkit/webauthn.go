package testkit

// A software WebAuthn authenticator, so tests can register and use
// passkeys over HTTP without a browser. It answers the options a server
// sends (the JSON navigator.credentials.create and .get take) with the
// PublicKeyCredential JSON a browser would post back, and lets a test
// break any one rule a relying party must check: the origin, user
// verification, the signature counter, the key that signs, the user
// handle, the challenge.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
	flagBE = 0x08 // backup eligible (a synced passkey)
	flagBS = 0x10 // backed up
	flagAT = 0x40 // attested credential data included (registration)
)

// b64 is the encoding of every binary field browsers put in the JSON.
var b64 = base64.RawURLEncoding

// Passkey is one credential of a software authenticator: an ECDSA P-256
// key (COSE ES256, which every relying party accepts) scoped to an RP ID.
type Passkey struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	RPID       string // the relying party ID the key is scoped to
	Origin     string // the page the browser says it runs on (clientDataJSON)
	UserHandle []byte // the user.id of the registration options, set by Create
	// SignCount is the authenticator's counter: Create sends it as it is,
	// each Get sends it plus one (and keeps that), unless Synced.
	SignCount uint32
	// Synced is a passkey kept in a cloud account, like most phones' and
	// password managers': its counter stays 0 and it sets the backup
	// flags (BE, BS).
	Synced bool
}

// NewPasskey is a new credential for rpID, used from pages at origin.
func NewPasskey(t testing.TB, rpID, origin string) *Passkey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return &Passkey{ID: id, Key: key, RPID: rpID, Origin: origin}
}

// Tamper names what one response gets wrong; its zero value is a correct
// response. Each field breaks one rule, so a test shows the server checks
// that rule alone.
type Tamper struct {
	Origin    string              // clientDataJSON's origin instead of the passkey's
	Type      string              // clientDataJSON's type instead of webauthn.create/get
	Challenge string              // this challenge instead of the options'
	RPID      string              // hash this RP ID instead of the passkey's
	NoUV      bool                // the user was present but not verified
	SignCount *uint32             // this counter instead of the next (a clone); not kept
	SignWith  *ecdsa.PrivateKey   // sign with another key (a forgery)
	ID        []byte              // claim this credential ID instead
	Handle    *[]byte             // this userHandle instead of the passkey's (empty: none)
	Extra     map[string]any      // more members in clientDataJSON
	Client    func([]byte) []byte // rewrite clientDataJSON last (after Extra)
}

// creationOptions is what Create reads of navigator.credentials.create's
// options, as the server sends them ({"publicKey": ...}).
type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

// assertionOptions is what Get reads of navigator.credentials.get's.
type assertionOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	} `json:"publicKey"`
}

// Create answers registration options (the server's JSON) as a browser
// posts the new credential back: attestation "none", the COSE public key
// in the attested credential data. It keeps the options' user.id as the
// passkey's user handle, as a discoverable credential does.
func (p *Passkey) Create(t testing.TB, options []byte, tm Tamper) []byte {
	t.Helper()
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("registration options %s: %v", options, err)
	}
	if o.PublicKey.RP.ID != p.RPID {
		t.Fatalf("registration options for RP %q, the passkey's is %q", o.PublicKey.RP.ID, p.RPID)
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		t.Fatalf("user.id %q: %v", o.PublicKey.User.ID, err)
	}
	p.UserHandle = handle
	cose, err := webauthncbor.Marshal(map[int]any{
		1: 2, 3: -7, // kty EC2, alg ES256
		-1: 1, // crv P-256
		-2: p.Key.X.FillBytes(make([]byte, 32)),
		-3: p.Key.Y.FillBytes(make([]byte, 32)),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := or(tm.ID, p.ID)
	attested := make([]byte, 16, 16+2+len(id)+len(cose)) // AAGUID all zero, as "none" attestation has it
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(id)))
	attested = append(append(attested, id...), cose...)
	count := p.SignCount
	if tm.SignCount != nil {
		count = *tm.SignCount
	}
	authData := p.authData(tm, flagAT, count, attested)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		t.Fatal(err)
	}
	client := p.clientData(t, "webauthn.create", o.PublicKey.Challenge, tm)
	return credentialJSON(t, id, map[string]any{
		"clientDataJSON": b64.EncodeToString(client), "attestationObject": b64.EncodeToString(att),
		"transports": []string{"internal"},
	})
}

// Get answers assertion options as a browser posts the assertion back:
// authenticatorData || SHA-256(clientDataJSON) signed with ES256 (ASN.1
// DER), with the user handle a discoverable credential returns.
func (p *Passkey) Get(t testing.TB, options []byte, tm Tamper) []byte {
	t.Helper()
	var o assertionOptions
	if err := json.Unmarshal(options, &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("assertion options %s: %v", options, err)
	}
	if o.PublicKey.RPID != p.RPID {
		t.Fatalf("assertion options for RP %q, the passkey's is %q", o.PublicKey.RPID, p.RPID)
	}
	count := p.SignCount
	switch {
	case tm.SignCount != nil:
		count = *tm.SignCount
	case !p.Synced:
		p.SignCount++
		count = p.SignCount
	}
	authData := p.authData(tm, 0, count, nil)
	client := p.clientData(t, "webauthn.get", o.PublicKey.Challenge, tm)
	sum := sha256.Sum256(client)
	key := p.Key
	if tm.SignWith != nil {
		key = tm.SignWith
	}
	// ES256: ECDSA over the SHA-256 of authenticatorData || clientDataHash.
	signed := sha256.Sum256(append(bytes.Clone(authData), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, signed[:])
	if err != nil {
		t.Fatal(err)
	}
	handle := p.UserHandle
	if tm.Handle != nil {
		handle = *tm.Handle
	}
	resp := map[string]any{
		"clientDataJSON": b64.EncodeToString(client), "authenticatorData": b64.EncodeToString(authData),
		"signature": b64.EncodeToString(sig),
	}
	if len(handle) > 0 {
		resp["userHandle"] = b64.EncodeToString(handle)
	}
	return credentialJSON(t, or(tm.ID, p.ID), resp)
}

// authData is the authenticator data: rpIdHash, flags, counter, and the
// attested credential data of a registration.
func (p *Passkey) authData(tm Tamper, flags byte, count uint32, attested []byte) []byte {
	rp := sha256.Sum256([]byte(or(tm.RPID, p.RPID)))
	flags |= flagUP | flagUV
	if tm.NoUV {
		flags &^= flagUV
	}
	if p.Synced {
		flags |= flagBE | flagBS
	}
	d := append(rp[:], flags)
	d = binary.BigEndian.AppendUint32(d, count)
	return append(d, attested...)
}

// clientData is the clientDataJSON of a ceremony of type typ answering
// challenge (base64url, as the options carried it).
func (p *Passkey) clientData(t testing.TB, typ, challenge string, tm Tamper) []byte {
	t.Helper()
	c := map[string]any{
		"type": or(tm.Type, typ), "challenge": or(tm.Challenge, challenge),
		"origin": or(tm.Origin, p.Origin), "crossOrigin": false,
	}
	for k, v := range tm.Extra {
		c[k] = v
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Client != nil {
		b = tm.Client(b)
	}
	return b
}

// credentialJSON is PublicKeyCredential.toJSON()'s shape.
func credentialJSON(t testing.TB, id []byte, response map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(id), "rawId": b64.EncodeToString(id), "type": "public-key",
		"authenticatorAttachment": "platform", "response": response, "clientExtensionResults": map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// or is v unless it is empty.
func or[T ~string | ~[]byte](v, otherwise T) T {
	if len(v) == 0 {
		return otherwise
	}
	return v
}

package throttle_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/throttle"
)

func TestRulesValidate(t *testing.T) {
	t.Parallel()
	if err := throttle.DefaultRules().Validate(); err != nil {
		t.Fatalf("default rules: %v", err)
	}
	tests := []struct {
		name string
		edit func(r *throttle.Rules)
		key  string
	}{
		{"no failures allowed", func(r *throttle.Rules) { r.AccountAddress.Failures = 0 }, "account_address"},
		{"negative failures", func(r *throttle.Rules) { r.Account.Failures = -1 }, "account"},
		{"window under a second", func(r *throttle.Rules) { r.Address.Window = time.Millisecond }, "address"},
		{"zero max delay", func(r *throttle.Rules) { r.Account.MaxDelay = 0 }, "account"},
		{"device rule missing", func(r *throttle.Rules) { r.Device = throttle.Rule{} }, "device"},
		{"forgot per address: no request allowed", func(r *throttle.Rules) { r.Forgot.Address.Failures = 0 }, "forgot.address"},
		{"forgot per email: window under a second", func(r *throttle.Rules) { r.Forgot.Email.Window = time.Millisecond }, "forgot.email"},
		{"forgot per email missing", func(r *throttle.Rules) { r.Forgot.Email = throttle.Rule{} }, "forgot.email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := throttle.DefaultRules()
			tt.edit(&r)
			err := r.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Fatalf("Validate() = %v, want an error starting with %q", err, tt.key+": ")
			}
		})
	}
}

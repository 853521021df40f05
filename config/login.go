package config

import "fmt"

// Login configures the sign-in page.
type Login struct {
	// Mode is what the sign-in page offers first; default LoginPassword.
	Mode LoginMode `yaml:"mode"`
}

// LoginMode is a sign-in page's mode (login.mode).
type LoginMode string

// Sign-in page modes.
const (
	// LoginPassword: the email and password form, SSO beside it.
	LoginPassword LoginMode = "password"
	// LoginSSOFirst: with one provider, the page sends the browser to it
	// at once, with a "Use a password instead" link.
	LoginSSOFirst LoginMode = "sso_first"
	// LoginSSOOnly: no password form, but for the break-glass page
	// (/login?local=1) that only administrators can complete.
	LoginSSOOnly LoginMode = "sso_only"
)

// String is the configured form.
func (m LoginMode) String() string { return string(m) }

// validate fills the default and checks the mode against the providers.
func (l *Login) validate(providers int) error {
	switch l.Mode {
	case "":
		l.Mode = LoginPassword
	case LoginPassword:
	case LoginSSOFirst, LoginSSOOnly:
		if providers == 0 {
			return fmt.Errorf("login.mode: %s needs a provider (providers)", l.Mode)
		}
	default:
		return fmt.Errorf("login.mode: %q must be password, sso_first or sso_only", l.Mode)
	}
	return nil
}

package models

// Method is how an action was authenticated or carried out: it is stored
// with sessions, audit events and an account's last sign-in.
type Method string

// Sign-in methods (sessions, last sign-in, sign-in events).
const (
	MethodPassword Method = "password"
	MethodSSO      Method = "sso"
	MethodPasskey  Method = "passkey" // a passkey alone, with user verification
)

// Other origins of audited changes.
const (
	MethodAdmin Method = "admin" // the admin console
	MethodCLI   Method = "cli"   // the gatehouse command line
	MethodSetup Method = "setup" // the first-admin setup link
	MethodDemo  Method = "demo"  // gatehouse demo's seed accounts
)

// String returns the stored form.
func (m Method) String() string { return string(m) }

// Label is the method as the admin console shows it.
func (m Method) Label() string {
	if m == MethodSSO {
		return "single sign-on"
	}
	return string(m)
}

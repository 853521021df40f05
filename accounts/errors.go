package accounts

import (
	"errors"
	"fmt"
)

// Code classifies a refusal so callers can answer it without reading its
// message: the HTTP layer maps each code to one status.
type Code int

// Refusal codes.
const (
	// CodeInvalid: what was typed is not acceptable (a bad email, a short
	// password); fix it and send again.
	CodeInvalid Code = iota + 1
	// CodeConflict: the request clashes with the state of the accounts (an
	// email in use, the last administrator, an identity linked elsewhere).
	CodeConflict
	// CodeNotFound: the account or identity does not exist (any more).
	CodeNotFound
	// CodeForbidden: the actor may not do this.
	CodeForbidden
)

// String names the code for logs.
func (c Code) String() string {
	switch c {
	case CodeInvalid:
		return "invalid"
	case CodeConflict:
		return "conflict"
	case CodeNotFound:
		return "not found"
	case CodeForbidden:
		return "forbidden"
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Error is a refusal whose Msg is safe to show the person who asked.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func invalid(msg string) *Error  { return &Error{Code: CodeInvalid, Msg: msg} }
func conflict(msg string) *Error { return &Error{Code: CodeConflict, Msg: msg} }

// ErrorCode returns the code of the *Error in err's chain, or 0 when there
// is none (an internal failure).
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// Guard-rail refusals, shown as they are.
var (
	ErrLastAdmin = conflict("This is the last enabled administrator: make another administrator first.")
	ErrSelf      = conflict("You cannot do that to your own account.")
	ErrLastLogin = conflict("This is the account's only way to sign in: add a password or another provider first.")
	// ErrIdentityLinkedHere and ErrIdentityLinkedElsewhere refuse to link
	// an SSO identity that already belongs to an account.
	ErrIdentityLinkedHere      = conflict("That sign-in is already linked to your account.")
	ErrIdentityLinkedElsewhere = conflict("That sign-in is already linked to another account.")
)

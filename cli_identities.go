package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gatehouse/gatehouse/accounts"
)

// maxRekeyCSV bounds the mapping file read.
const maxRekeyCSV = 64 << 20

// cmdIdentities runs "gatehouse identities rekey".
func cmdIdentities(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rekey" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "Usage: gatehouse identities rekey --provider P (--from-csv FILE | --by-claim CLAIM) [--apply]")
			return errHelp
		}
		return errUsage{errors.New("identities needs a subcommand: rekey")}
	}
	fs, path := flags("identities rekey", "Move the identities of a provider to new subjects, for a provider whose identifiers changed (a new tenant or app registration, a provider replaced): "+
		"from a CSV file of old subject, new subject and optionally new issuer, or onto a stable claim of each identity's last sign-in. Never by email. "+
		"Without --apply it only prints what would change, the conflicts and the rows it could not match; --apply makes every change in one transaction, or none, and audits each.")
	provider := fs.String("provider", "", "the provider's id (required)")
	csvPath := fs.String("from-csv", "", "a CSV file: old subject, new subject[, new issuer] per line")
	claim := fs.String("by-claim", "", "a claim whose value becomes each identity's subject (e.g. oid)")
	apply := fs.Bool("apply", false, "make the changes (default: a dry run)")
	if err := parse(fs, args[1:], stdout); err != nil {
		return err
	}
	if *provider == "" || (*csvPath == "") == (*claim == "") {
		return errUsage{errors.New("--provider and exactly one of --from-csv and --by-claim are required")}
	}
	var rows []accounts.RekeyRow
	if *csvPath != "" {
		var err error
		if rows, err = readRekeyCSV(*csvPath); err != nil {
			return errUsage{err}
		}
	}
	a, err := openApp(ctx, *path, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	var plan *accounts.RekeyPlan
	if *csvPath != "" {
		plan, err = a.Accounts.PlanRekeyCSV(ctx, *provider, rows)
	} else {
		plan, err = a.Accounts.PlanRekeyClaim(ctx, *provider, *claim)
	}
	if err != nil {
		return cliRefusal(err)
	}
	for _, c := range plan.Changes {
		fmt.Fprintf(stdout, "change\t%s\t%s %s -> %s %s\n", c.Email, c.OldIssuer, c.OldSubject, c.NewIssuer, c.NewSubject)
	}
	for _, c := range plan.Conflicts {
		fmt.Fprintf(stdout, "conflict\t%s\n", c)
	}
	for _, u := range plan.Unmatched {
		fmt.Fprintf(stdout, "unmatched\t%s\n", u)
	}
	fmt.Fprintf(stdout, "%d changes, %d conflicts, %d unmatched\n", len(plan.Changes), len(plan.Conflicts), len(plan.Unmatched))
	if !*apply {
		fmt.Fprintln(stdout, "dry run: nothing changed (add --apply)")
		return nil
	}
	if err := a.Accounts.ApplyRekey(ctx, plan, nil); err != nil {
		return cliRefusal(err)
	}
	fmt.Fprintf(stdout, "applied: %d identities re-keyed\n", len(plan.Changes))
	return nil
}

// cliRefusal is a refusal's message as a command error, or err itself.
func cliRefusal(err error) error {
	if accounts.ErrorCode(err) != 0 {
		return errors.New(err.Error())
	}
	return err
}

// readRekeyCSV reads a mapping file (accounts.ParseRekeyCSV).
func readRekeyCSV(path string) ([]accounts.RekeyRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxRekeyCSV {
		return nil, fmt.Errorf("%s: larger than %d MiB: split the mapping", path, maxRekeyCSV>>20)
	}
	rows, err := accounts.ParseRekeyCSV(io.LimitReader(f, maxRekeyCSV))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// Command makev1 makes agent/store/testdata/state-v1.db, a state file of
// store schema 1 written by the real agent through its API, and
// state-v1.json, what that file holds as agent/store reads it. See the
// README beside this directory; make-v1-state.sh builds the agent and
// runs this.
//
//	makev1 -agent BIN -out DIR [-commit SHA] [-keep]
//	makev1 -dump FILE    print FILE's JSON and check it holds what the fixture promises
//
// It lives under testdata so that `go build ./...` and `go vet ./...`
// skip it: it is written against the store of schema 1 and is kept as the
// record of how the fixture was made, not as code that follows the store.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	bin := flag.String("agent", "", "the xenagent binary to drive (built from the commit the fixture is of)")
	out := flag.String("out", "", "directory to write state-v1.db and state-v1.json to")
	commit := flag.String("commit", "", "the commit the agent was built from, recorded in the JSON")
	keep := flag.Bool("keep", false, "keep the agent's work directory (printed)")
	dumpOnly := flag.String("dump", "", "only print this state file's JSON and check it")
	flag.Parse()
	var err error
	switch {
	case *dumpOnly != "":
		err = printDump(*dumpOnly)
	case *bin != "" && *out != "":
		err = generate(*bin, *out, *commit, *keep)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "makev1:", err)
		os.Exit(1)
	}
}

func hashKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:])
}

func generate(bin, out, commit string, keep bool) error {
	dir, err := os.MkdirTemp("", "makev1-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("work directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	a, err := newAgent(bin, dir, hashKey(operatorKey), hashKey(corpKey))
	if err != nil {
		return err
	}
	defer a.kill()
	s := &scenario{a: a, log: func(format string, args ...any) { fmt.Printf(format+"\n", args...) }}
	if err := s.run1(); err != nil {
		return fmt.Errorf("run 1: %w\nagent log:\n%s", err, a.log)
	}
	if err := s.run2(); err != nil {
		return fmt.Errorf("run 2: %w\nagent log:\n%s", err, a.log)
	}
	// The file as the killed agent left it: no later start has resumed
	// anything.
	db := filepath.Join(out, "state-v1.db")
	if err := copyFile(filepath.Join(dir, "state.db"), db); err != nil {
		return err
	}
	d, err := readDump(db)
	if err != nil {
		return err
	}
	if err := check(d); err != nil {
		return fmt.Errorf("%s does not hold what the fixture promises:\n%w", db, err)
	}
	d.SourceCommit = commit
	raw, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "state-v1.json"), append(raw, '\n'), 0o644); err != nil {
		return err
	}
	fi, err := os.Stat(db)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes) and state-v1.json; in flight:\n%s", db, fi.Size(), summary(d))
	return nil
}

func printDump(path string) error {
	d, err := readDump(path)
	if err != nil {
		return err
	}
	raw, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(raw))
	fmt.Fprint(os.Stderr, "in flight:\n", summary(d))
	return check(d)
}

package passwd

import (
	"strings"
	"testing"
)

func TestHashRounds(t *testing.T) {
	for _, tc := range []struct {
		rounds int
		ok     bool
	}{{999, false}, {1000, true}, {5000, true}, {12345, true}} {
		h, err := HashRounds("correct horse", tc.rounds)
		if (err == nil) != tc.ok {
			t.Fatalf("rounds %d: err %v, want ok %v", tc.rounds, err, tc.ok)
		}
		if !tc.ok {
			continue
		}
		if !strings.HasPrefix(h, "$6$") || Rounds(h) != tc.rounds {
			t.Errorf("rounds %d: hash %q reports %d rounds", tc.rounds, h, Rounds(h))
		}
		if !Verify(h, "correct horse") || Verify(h, "correct horse ") {
			t.Errorf("rounds %d: Verify does not check the hash %q", tc.rounds, h)
		}
	}
	if Rounds("$6$salt$x") != 5000 || Rounds("$1$x$y") != 0 {
		t.Error("Rounds misreads a hash without rounds or of another scheme")
	}
}

// TestRoundsMatchesCrypt: glibc's crypt(3) of "Hello world!" with
// rounds=10000 and salt "saltstringsaltst" (Drepper's test vector).
func TestRoundsMatchesCrypt(t *testing.T) {
	want := "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."
	if got := sha512Crypt("Hello world!", "saltstringsaltstring", 10000); got != want {
		t.Fatalf("got %s", got)
	}
}

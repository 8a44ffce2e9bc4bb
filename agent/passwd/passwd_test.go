package passwd

import (
	"strings"
	"testing"
)

func TestSHA512Crypt(t *testing.T) {
	// Vectors from the SHA-crypt specification and openssl passwd -6.
	for _, c := range []struct {
		pw, salt string
		rounds   int
		want     string
	}{
		{"Hello world!", "saltstring", 5000, "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"password_to_change", "abc", 5000, "$6$abc$ytzHHKmN/RzrR1kwstQ87XMZQX9EjV4YuC.Syw1WU1aA6a9eEXr.n7.G3L/LLJmNu.OWd1amMvwlpwfSEB7o1."},
		// A salt past 16 characters is cut; rounds other than 5000 are spelled out.
		{"Hello world!", "saltstringsaltstring", 10000, "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	} {
		if got := sha512Crypt(c.pw, c.salt, c.rounds); got != c.want {
			t.Errorf("sha512Crypt(%q, %q, %d) = %s, want %s", c.pw, c.salt, c.rounds, got, c.want)
		}
	}
}

func TestHash(t *testing.T) {
	h1, err1 := Hash("secret-pass")
	h2, err2 := Hash("secret-pass")
	if err1 != nil || err2 != nil {
		t.Fatalf("Hash: %v, %v", err1, err2)
	}
	if h1 == h2 || !strings.HasPrefix(h1, "$6$") || strings.Contains(h1, "secret") {
		t.Errorf("hashes %s %s: want distinct salted $6$ hashes", h1, h2)
	}
	if !Verify(h1, "secret-pass") || Verify(h1, "secret-pasS") {
		t.Errorf("Verify(%s) does not tell the password from another", h1)
	}
}

func TestVerify(t *testing.T) {
	for _, c := range []struct {
		hash, pw string
		want     bool
	}{
		{"$6$abc$ytzHHKmN/RzrR1kwstQ87XMZQX9EjV4YuC.Syw1WU1aA6a9eEXr.n7.G3L/LLJmNu.OWd1amMvwlpwfSEB7o1.", "password_to_change", true},
		{"$6$abc$ytzHHKmN/RzrR1kwstQ87XMZQX9EjV4YuC.Syw1WU1aA6a9eEXr.n7.G3L/LLJmNu.OWd1amMvwlpwfSEB7o1.", "password_to_chang", false},
		{"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.", "Hello world!", true},
		{"$5$abc$anything", "password_to_change", false},          // SHA-256 crypt: not ours
		{"$6$rounds=x$abc$anything", "password_to_change", false}, // rounds not a number
		{"$6$rounds=10000", "Hello world!", false},                // no salt
		{"$6$abc", "password_to_change", false},                   // no digest
		{"", "", false},
	} {
		if got := Verify(c.hash, c.pw); got != c.want {
			t.Errorf("Verify(%q, %q) = %v, want %v", c.hash, c.pw, got, c.want)
		}
	}
}

// Package passwd hashes VM passwords the way guests check them: SHA-512
// crypt ("$6$", glibc's crypt(3)), the form /etc/shadow and cloud-init's
// hashed_passwd take. The agent hashes a password when the call that
// carries it is accepted and keeps only the hash; nothing it records or
// writes to a guest's seed holds the password itself.
package passwd

import (
	"crypto/rand"
	"crypto/sha512"
	"fmt"
	"strings"
)

// Hash returns the SHA-512 crypt hash of a password with a random
// 16-character salt and the default 5000 rounds.
func Hash(password string) (string, error) {
	const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("reading a random salt: %w", err)
	}
	salt := make([]byte, len(raw))
	for i, b := range raw {
		salt[i] = alphabet[int(b)%len(alphabet)]
	}
	return sha512Crypt(password, string(salt), 5000), nil
}

// sha512Crypt is Ulrich Drepper's SHA-crypt with SHA-512, as glibc's crypt(3).
func sha512Crypt(password, salt string, rounds int) string {
	pw, s := []byte(password), []byte(salt)
	if len(s) > 16 {
		s = s[:16]
	}
	b := sha512.New()
	b.Write(pw)
	b.Write(s)
	b.Write(pw)
	sumB := b.Sum(nil)

	a := sha512.New()
	a.Write(pw)
	a.Write(s)
	for n := len(pw); n > 0; n -= 64 {
		a.Write(sumB[:min(n, 64)])
	}
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			a.Write(sumB)
		} else {
			a.Write(pw)
		}
	}
	sumA := a.Sum(nil)

	dp := sha512.New()
	for range pw {
		dp.Write(pw)
	}
	p := repeatTo(dp.Sum(nil), len(pw))

	ds := sha512.New()
	for range 16 + int(sumA[0]) {
		ds.Write(s)
	}
	sb := repeatTo(ds.Sum(nil), len(s))

	c := sumA
	for i := range rounds {
		h := sha512.New()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sb)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(nil)
	}

	var out strings.Builder
	out.WriteString("$6$")
	if rounds != 5000 {
		fmt.Fprintf(&out, "rounds=%d$", rounds)
	}
	out.Write(s)
	out.WriteByte('$')
	// The digest's bytes are emitted in this fixed permutation, 3 at a time.
	order := [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26}, {6, 27, 48}, {28, 49, 7},
		{50, 8, 29}, {9, 30, 51}, {31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57},
		{37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}}
	for _, o := range order {
		b64(&out, uint(c[o[0]])<<16|uint(c[o[1]])<<8|uint(c[o[2]]), 4)
	}
	b64(&out, uint(c[63]), 2)
	return out.String()
}

func repeatTo(sum []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, sum[:min(n-len(out), len(sum))]...)
	}
	return out
}

func b64(out *strings.Builder, v uint, n int) {
	const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for range n {
		out.WriteByte(alphabet[v&0x3f])
		v >>= 6
	}
}

// Verify reports whether password matches a "$6$" hash.
func Verify(hash, password string) bool {
	rest, ok := strings.CutPrefix(hash, "$6$")
	if !ok {
		return false
	}
	rounds := 5000
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		n, after, found := strings.Cut(r, "$")
		if !found {
			return false
		}
		if _, err := fmt.Sscanf(n, "%d", &rounds); err != nil {
			return false
		}
		rest = after
	}
	salt, _, ok := strings.Cut(rest, "$")
	return ok && sha512Crypt(password, salt, rounds) == hash
}

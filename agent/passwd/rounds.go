package passwd

import (
	"crypto/rand"
	"fmt"
)

// AccountRounds is the SHA-512 crypt cost of account passwords (the
// Gandi v1 face's login): far above the 5000 a guest's /etc/shadow uses,
// because an account password guards every VM of the account and a
// stolen state file must not give it up cheaply. About 0.1 to 0.2 s a check on
// one core: a login is rare, a guess is not.
const AccountRounds = 100000

// MinRounds and MaxRounds bound what crypt(3) accepts.
const (
	MinRounds = 1000
	MaxRounds = 999999999
)

// HashRounds returns the SHA-512 crypt hash of password with a random
// salt and the given cost ("$6$rounds=N$salt$digest").
func HashRounds(password string, rounds int) (string, error) {
	if rounds < MinRounds || rounds > MaxRounds {
		return "", fmt.Errorf("rounds: must be between %d and %d, got %d", MinRounds, MaxRounds, rounds)
	}
	const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("reading a random salt: %w", err)
	}
	salt := make([]byte, len(raw))
	for i, b := range raw {
		salt[i] = alphabet[int(b)%len(alphabet)]
	}
	// crypt(3) leaves the default 5000 out of the hash, as Verify expects.
	return sha512Crypt(password, string(salt), rounds), nil
}

// Rounds reports the cost of a "$6$" hash (5000 when it names none), or
// 0 when hash is not one.
func Rounds(hash string) int {
	var n int
	if _, err := fmt.Sscanf(hash, "$6$rounds=%d$", &n); err == nil {
		return n
	}
	if len(hash) > 3 && hash[:3] == "$6$" {
		return 5000
	}
	return 0
}

package main

import (
	"fmt"
	"io"
)

// A generated API key has the shape of a Gandi one: keyLen characters
// from keyAlphabet (62 symbols, about 143 bits of entropy).
const (
	keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	keyLen      = 24
)

// keyByteLimit is the largest multiple of len(keyAlphabet) a byte can
// hold (248): bytes from it up are dropped, since keeping them would make
// the alphabet's first 256-248 symbols likelier than the rest.
const keyByteLimit = 256 - 256%len(keyAlphabet)

// newKey draws a key from random (crypto/rand.Reader outside tests) by
// rejection sampling. A failed read fails the key: a key drawn from
// whatever a short read left in the buffer would be guessable.
func newKey(random io.Reader) (string, error) {
	key := make([]byte, 0, keyLen)
	buf := make([]byte, keyLen)
	for len(key) < keyLen {
		if _, err := io.ReadFull(random, buf); err != nil {
			return "", fmt.Errorf("reading random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < keyByteLimit && len(key) < keyLen {
				key = append(key, keyAlphabet[int(b)%len(keyAlphabet)])
			}
		}
	}
	return string(key), nil
}

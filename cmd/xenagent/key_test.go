package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestNewKey(t *testing.T) {
	repeat := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	for _, tc := range []struct {
		name    string
		random  []byte
		want    string
		wantErr error
	}{
		{"low bytes map straight", repeat(0, keyLen), strings.Repeat("A", keyLen), nil},
		{"a byte wraps modulo the alphabet", repeat(62+25, keyLen), strings.Repeat("Z", keyLen), nil},
		{"the last accepted byte", repeat(byte(keyByteLimit-1), keyLen), strings.Repeat("9", keyLen), nil},
		{"rejected bytes are replaced from the next read",
			append(append(repeat(byte(keyByteLimit), keyLen/2), repeat(1, keyLen/2)...), repeat(2, keyLen)...),
			strings.Repeat("B", keyLen/2) + strings.Repeat("C", keyLen/2), nil},
		{"a short read fails the key", repeat(0, keyLen-1), "", io.ErrUnexpectedEOF},
		{"no randomness at all", nil, "", io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := newKey(bytes.NewReader(tc.random))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("newKey: err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("newKey = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewKeyFromCryptoRand(t *testing.T) {
	a, err := newKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{a, b} {
		if len(k) != keyLen || strings.Trim(k, keyAlphabet) != "" {
			t.Errorf("key %q: want %d characters from %q", k, keyLen, keyAlphabet)
		}
	}
	if a == b {
		t.Errorf("two keys are both %q", a)
	}
}

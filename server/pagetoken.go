package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// Page tokens are opaque to clients. A token is base64url of
//
//	version(1) len(prefix)(uvarint) prefix last-name mac(16)
//
// where mac is HMAC-SHA256 over everything before it, keyed with the store's
// secret. The MAC makes a token that the server did not issue, or one
// altered by hand, fail cleanly, and ties a token to the prefix it was
// issued for.
const (
	tokenVersion = 1
	tokenMACLen  = 16
)

var (
	errTokenMalformed = errors.New("not a page token issued by this service")
	errTokenPrefix    = errors.New("was issued for another prefix")
)

// pageTokens issues and checks page tokens.
type pageTokens struct {
	key []byte
}

// issue returns the token for the page that follows after under prefix.
func (p pageTokens) issue(prefix, after string) string {
	body := []byte{tokenVersion}
	body = binary.AppendUvarint(body, uint64(len(prefix)))
	body = append(body, prefix...)
	body = append(body, after...)
	return base64.RawURLEncoding.EncodeToString(append(body, p.mac(body)...))
}

// parse checks token and returns the last name of the previous page.
func (p pageTokens) parse(token, prefix string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 1+1+tokenMACLen || raw[0] != tokenVersion {
		return "", errTokenMalformed
	}

	body, mac := raw[:len(raw)-tokenMACLen], raw[len(raw)-tokenMACLen:]
	if !hmac.Equal(mac, p.mac(body)) {
		return "", errTokenMalformed
	}

	n, used := binary.Uvarint(body[1:])
	rest := body[1+max(used, 0):]
	if used <= 0 || n > uint64(len(rest)) {
		return "", errTokenMalformed
	}
	if string(rest[:n]) != prefix {
		return "", errTokenPrefix
	}
	return string(rest[n:]), nil
}

func (p pageTokens) mac(body []byte) []byte {
	h := hmac.New(sha256.New, p.key)
	h.Write(body)
	return h.Sum(nil)[:tokenMACLen]
}

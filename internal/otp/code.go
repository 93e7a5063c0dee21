package otp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"strconv"
)

// newCode returns digits decimal digits from crypto/rand. rand.Int draws by
// rejection, so every code is equally likely (no modulo bias).
func newCode(digits int) (string, error) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return "", fmt.Errorf("otp: random: %w", err)
	}
	return fmt.Sprintf("%0*d", digits, n.Int64()), nil
}

// hashCode is HMAC-SHA-256 under the server secret over the subject and the
// code, length-prefixed so that no two pairs share an input.
func hashCode(secret []byte, subject, code string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("veilig-otp-v1\x00" + strconv.Itoa(len(subject)) + ":" + subject + code))
	return m.Sum(nil)
}

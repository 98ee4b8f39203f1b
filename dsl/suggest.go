package dsl

import (
	"fmt"
	"strings"

	"github.com/agext/levenshtein"
)

// didYouMean returns " Did you mean "x"?" for the known name closest to
// given, or "" when none is close enough to be a likely typo. How close is
// close grows with the length of the name: only a different case for one
// or two characters, one edit up to five, two up to eight, three beyond.
// A fixed bound of two suggested "db" for "ab" and "w1" for "cp": any two
// short names.
func didYouMean(given string, known []string) string {
	limit := 1
	switch n := len([]rune(given)); {
	case n > 8:
		limit = 3
	case n > 5:
		limit = 2
	case n <= 2:
		for _, k := range known {
			if k != given && strings.EqualFold(k, given) {
				return fmt.Sprintf(" Did you mean %q?", escapeText(k))
			}
		}
		return ""
	}
	best, bestDist := "", 0
	for _, k := range known {
		if k == given {
			continue
		}
		d := levenshtein.Distance(given, k, nil)
		if swapped(given, k) {
			d = 1 // "jion" for "join" is one slip of the fingers
		}
		if d <= limit && d < len([]rune(k)) && (best == "" || d < bestDist) {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", escapeText(best))
}

// DidYouMean is didYouMean for the command line's own messages (--only,
// --task, --limit): " Did you mean "x"?" or "".
func DidYouMean(given string, known []string) string { return didYouMean(given, known) }

// swapped reports whether b is a with two adjacent characters swapped.
func swapped(a, b string) bool {
	ra, rb := []rune(a), []rune(b)
	if len(ra) != len(rb) {
		return false
	}
	for i := 0; i+1 < len(ra); i++ {
		if ra[i] != rb[i] {
			return ra[i] == rb[i+1] && ra[i+1] == rb[i] && string(ra[i+2:]) == string(rb[i+2:])
		}
	}
	return false
}

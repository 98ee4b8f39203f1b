package dsl

import (
	"fmt"

	"github.com/agext/levenshtein"
)

// didYouMean returns " Did you mean "x"?" for the known name closest to
// given, or "" when none is close enough to be a likely typo.
func didYouMean(given string, known []string) string {
	best, bestDist := "", 0
	for _, k := range known {
		d := levenshtein.Distance(given, k, nil)
		if d < 3 && (best == "" || d < bestDist) {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

package hosts

// SetShellRelayRounds sets how many commands a new reused shell serves
// (shellRelayRounds, a power of two) and returns the function that puts
// it back.
func SetShellRelayRounds(n int) (restore func()) {
	old := shellRelayRounds
	shellRelayRounds = n
	return func() { shellRelayRounds = old }
}

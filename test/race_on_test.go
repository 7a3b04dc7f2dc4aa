//go:build race

package test

// raceEnabled: the race detector multiplies memory and time; tests scale
// their load down under it.
const raceEnabled = true

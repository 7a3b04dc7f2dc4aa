//go:build unix

package rule

import "syscall"

// cpuTime returns the CPU time the process has used, in nanoseconds: user
// and system, every thread (the garbage collector's included). On a shared
// machine it is steadier than wall time, which counts time spent waiting
// for a CPU.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

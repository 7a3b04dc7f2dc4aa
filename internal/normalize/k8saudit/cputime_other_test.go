//go:build !unix

package k8saudit_test

// cpuTime is not measured on this platform.
func cpuTime() int64 { return 0 }

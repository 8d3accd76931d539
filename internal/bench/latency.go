package bench

import (
	"math"
	"time"
)

// latencies keeps a histogram of durations in buckets 2% wide, so that a
// run of any length takes the same memory and a percentile is off by 2% at
// most.
type latencies struct {
	counts []int64
	n      int64
}

const latencyStep = 1.02

func latencyBucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	return 1 + int(math.Log(us)/math.Log(latencyStep))
}

func (l *latencies) add(d time.Duration) {
	if d <= 0 {
		return
	}
	b := latencyBucket(d)
	for len(l.counts) <= b {
		l.counts = append(l.counts, 0)
	}
	l.counts[b]++
	l.n++
}

// percentile returns the upper edge of the bucket holding the p-th
// duration, or 0 with none.
func (l *latencies) percentile(p float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(p * float64(l.n)))
	var seen int64
	for b, c := range l.counts {
		seen += c
		if seen >= max(rank, 1) {
			return time.Duration(math.Pow(latencyStep, float64(b)) * float64(time.Microsecond))
		}
	}
	return 0
}

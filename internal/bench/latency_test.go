package bench

import (
	"testing"
	"time"
)

func TestLatencyPercentilesWithinTwoPercent(t *testing.T) {
	var l latencies
	if got := l.percentile(0.5); got != 0 {
		t.Fatalf("empty: %v", got)
	}
	for i := 1; i <= 1000; i++ {
		l.add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {0, time.Millisecond}, {1, time.Second}} {
		got := l.percentile(tc.p)
		if got < tc.want || float64(got) > float64(tc.want)*1.021 {
			t.Errorf("p%v = %v, want %v to 2%% above", tc.p*100, got, tc.want)
		}
	}
}

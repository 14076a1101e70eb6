package train

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress reports training progress: a redrawn bar on a terminal, plain
// periodic lines otherwise (logs, CI, pipes).
type progress struct {
	w        io.Writer
	terminal bool
	total    int
	start    time.Time
	startAt  int // step the session started from (resume)
	last     time.Time
}

func newProgress(w io.Writer, terminal bool, startAt, total int) *progress {
	now := time.Now()
	return &progress{w: w, terminal: terminal, total: total, start: now, startAt: startAt, last: now}
}

// rate is steps per second since the session started.
func (p *progress) rate(step int) float64 {
	el := time.Since(p.start).Seconds()
	if el <= 0 || step <= p.startAt {
		return 0
	}
	return float64(step-p.startAt) / el
}

func (p *progress) update(step int, loss string) {
	now := time.Now()
	final := step == p.total
	if p.terminal {
		if !final && now.Sub(p.last) < 100*time.Millisecond {
			return
		}
	} else if !final && now.Sub(p.last) < 10*time.Second {
		return
	}
	p.last = now
	r := p.rate(step)
	eta := "?"
	if r > 0 {
		eta = (time.Duration(float64(p.total-step)/r) * time.Second).Round(time.Second).String()
	}
	if p.terminal {
		const width = 28
		filled := width * step / p.total
		bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
		fmt.Fprintf(p.w, "\r  step %d/%d [%s] %s  %.1f steps/s  ETA %s \x1b[K", step, p.total, bar, loss, r, eta)
		if final {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintf(p.w, "  step %d/%d  %s  %.1f steps/s  ETA %s\n", step, p.total, loss, r, eta)
}

// clear ends a partially drawn bar line before another message is printed.
func (p *progress) clear() {
	if p.terminal {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

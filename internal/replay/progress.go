package replay

import (
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressMinBytes is the input size from which a progress bar is shown:
// smaller replays finish before a bar would help.
const progressMinBytes = 32 << 20

// Progress counts the bytes Read takes from the files of one replay, as
// stored on disk (compressed for .gz). It draws a progress bar when its
// writer is a terminal and the files total more than 32 MiB; otherwise it
// only counts. A nil *Progress is valid and does nothing. Safe for
// concurrent use.
//
//	p := replay.NewProgress(os.Stderr, files)
//	for _, f := range files {
//		err := p.Read(f, handle)
//		...
//	}
//	p.Finish()
type Progress struct {
	bar   *progressbar.ProgressBar // nil: no bar
	total int64
	read  atomic.Int64
}

// NewProgress returns the progress of reading files, drawn on w. Files
// that cannot be stat'ed count as empty; Read reports them.
func NewProgress(w *os.File, files []string) *Progress {
	p := &Progress{}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			p.total += fi.Size()
		}
	}
	if p.total > progressMinBytes && w != nil && term.IsTerminal(int(w.Fd())) {
		p.bar = progressbar.NewOptions64(p.total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("replay"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// Read is the package's Read, counting the bytes read from path.
func (p *Progress) Read(path string, fn func(Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if p != nil {
		r = &countingReader{r: f, p: p}
	}
	return readFrom(r, path, MaxRecordBytes, fn)
}

// Finish completes and clears the bar. Safe to call more than once.
func (p *Progress) Finish() {
	if p != nil && p.bar != nil && !p.bar.IsFinished() {
		p.bar.Finish()
	}
}

func (p *Progress) add(n int) {
	p.read.Add(int64(n))
	if p.bar != nil && n > 0 {
		p.bar.Add(n)
	}
}

type countingReader struct {
	r io.Reader
	p *Progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(n)
	return n, err
}

// Package replay reads log files for `vigia replay`: it turns each file into
// the raw messages the Kafka source would have delivered, so detection
// engineers can backtest rules over exports and captures.
//
// A file is JSON lines (one message per line), one JSON document, or text
// (container log lines: one message per line).
// A top-level array is split into one message per element; any other
// document is one message, and the normalizer splits envelopes such as a
// Kubernetes EventList or a CloudTrail {"Records":[...]} file. Gzip input
// is decompressed transparently. Bad input is never fatal to a file: a
// malformed line or document is handed on as a Record for the normalizer to
// report, and a record that cannot be read at all carries Err.
package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxRecordBytes caps one record: a JSON line, an array element, or a whole
// document that is not an array. A larger record is reported as a Record
// with Err wrapping ErrTooLarge, and reading goes on after it where the
// format allows. It also bounds memory: a document is held in memory only
// up to this size; a larger top-level array is streamed element by element.
// Read at the start of each Read or ReadFrom; values below 1 mean the
// default. Default: 16 MiB.
var MaxRecordBytes = 16 << 20

const defaultMaxRecordBytes = 16 << 20

// Errors carried by Record.Err; use errors.Is.
var (
	// ErrTooLarge: the record is larger than MaxRecordBytes; Data is nil.
	ErrTooLarge = errors.New("record larger than MaxRecordBytes")
	// ErrMalformed: a top-level array too large to hold in memory broke off
	// (a syntax error or a truncated file). The elements before it were
	// emitted; the rest of the file is not read.
	ErrMalformed = errors.New("malformed JSON")
)

// Record is one raw message read from a file, as it would arrive from Kafka.
type Record struct {
	// Data is one JSON value: an object, an array, or garbage that failed to
	// parse (the caller's normalizer reports it). The caller owns it.
	// Nil when Err is set.
	Data []byte
	// Origin is "path:line", the 1-based line of the record's first byte,
	// or just "path" for a record that is the whole file.
	Origin string
	// File is the path of the file the record came from.
	File string
	// Err is set for a record that could not be read (ErrTooLarge,
	// ErrMalformed); the caller counts it as a failure.
	Err error
}

// Read streams the records of the file at path to fn, in file order. It
// stops at fn's first error and returns it unchanged; otherwise it returns
// nil, or an error naming the file when the file cannot be opened, read or
// decompressed. Bad records are not errors: see Record. Files may be read
// concurrently.
func Read(path string, fn func(Record) error) error {
	return (*Progress)(nil).Read(path, fn)
}

// ReadFrom is Read for an open stream, such as stdin or a test buffer;
// name stands for the path in origins and errors. Gzip is detected by the
// ".gz" suffix of name or by the gzip magic bytes.
func ReadFrom(r io.Reader, name string, fn func(Record) error) error {
	return readFrom(r, name, MaxRecordBytes, fn)
}

const bufSize = 64 << 10

func readFrom(r io.Reader, name string, max int, fn func(Record) error) error {
	if max < 1 {
		max = defaultMaxRecordBytes
	}
	br := bufio.NewReaderSize(r, bufSize)
	head, err := br.Peek(2)
	if len(head) == 0 {
		if err == io.EOF {
			return nil // empty file
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	if strings.HasSuffix(strings.ToLower(name), ".gz") || bytes.Equal(head, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, bufSize)
	}
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	fr := &fileReader{br: br, name: name, max: max, fn: fn, line: 1}
	return fr.run()
}

// fileReader reads one decompressed file.
type fileReader struct {
	br   *bufio.Reader
	name string
	max  int
	fn   func(Record) error
	line int    // line of the next byte of br
	buf  []byte // line scratch buffer
}

// run detects the format and emits the file's records:
//   - the first non-blank line is a JSON value and another non-blank line
//     follows: JSON lines;
//   - otherwise the file is one document, held in memory up to max bytes,
//     streamed beyond that when it is an array;
//   - a first line longer than max that is not an array is taken for an
//     oversized JSON line: it is reported and the rest read as JSON lines.
func (r *fileReader) run() error {
	if err := r.skipSpace(); err == io.EOF {
		return nil // blank file
	} else if err != nil {
		return r.ioErr(err)
	}
	start := r.line
	first, n, long, err := r.readLine(true)
	if err != nil {
		return r.ioErr(err)
	}
	if long {
		if first[0] == '[' {
			return r.streamArray(io.MultiReader(bytes.NewReader(first), r.br), start)
		}
		if first[len(first)-1] != '\n' { // skip the rest of the line
			_, rest, _, err := r.readLine(false)
			if err != nil && err != io.EOF {
				return r.ioErr(err)
			}
			n += rest
		}
		if err := r.tooLarge(start, n); err != nil {
			return err
		}
		return r.lines()
	}
	if line := trimSpace(first); line[0] != '{' && line[0] != '[' {
		// Text: container log lines (CRI), one record per line. Only the
		// line end is trimmed: a partial CRI line's trailing space is
		// part of the message.
		if err := r.emit(bytes.Clone(bytes.TrimRight(first, "\r\n")), start); err != nil {
			return err
		}
		return r.lines()
	}
	if line := trimSpace(first); json.Valid(line) {
		switch err := r.skipSpace(); err {
		case io.EOF: // a one-line document
			return r.document(line, start)
		case nil:
			if err := r.emit(line, start); err != nil {
				return err
			}
			return r.lines()
		default:
			return r.ioErr(err)
		}
	}

	// One document: read it into memory, up to max bytes.
	doc := bytes.NewBuffer(append(first, '\n'))
	if _, err := doc.ReadFrom(io.LimitReader(r.br, int64(r.max+1-len(first)))); err != nil {
		return r.ioErr(err)
	}
	_, err = r.br.Peek(1)
	if err != nil && err != io.EOF {
		return r.ioErr(err)
	}
	if err == io.EOF && len(trimSpace(doc.Bytes())) <= r.max {
		return r.document(doc.Bytes(), start)
	}
	if first[0] == '[' {
		return r.streamArray(io.MultiReader(doc, r.br), start)
	}
	return r.fn(Record{File: r.name, Origin: r.name, Err: fmt.Errorf("%w: the file is one JSON document of more than %d bytes and not an array", ErrTooLarge, r.max)})
}

// lines emits each remaining non-blank line as a record.
func (r *fileReader) lines() error {
	for {
		start := r.line
		line, n, long, err := r.readLine(false)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return r.ioErr(err)
		}
		if long {
			err = r.tooLarge(start, n)
		} else if len(trimSpace(line)) > 0 {
			err = r.emit(bytes.Clone(bytes.TrimRight(line, "\r\n")), start)
		}
		if err != nil {
			return err
		}
	}
}

// document emits doc, the whole file from its first non-blank byte on line
// start: as one record when it is not valid JSON or not an array, else one
// record per element. doc is handed on, not copied.
func (r *fileReader) document(doc []byte, start int) error {
	doc = trimSpace(doc)
	if doc[0] != '[' || !json.Valid(doc) {
		return r.fn(Record{Data: doc, File: r.name, Origin: r.name})
	}
	return r.splitArray(bytes.NewReader(doc), start, false)
}

// streamArray emits the elements of an array too large to validate in
// memory first. A syntax error ends the file with an ErrMalformed record.
func (r *fileReader) streamArray(in io.Reader, start int) error {
	return r.splitArray(in, start, true)
}

// splitArray emits each element of the array that is the whole of in,
// starting on line start. It decodes elements as json.RawMessage, so values
// are never built, and finds their lines from the decoder's input offsets.
// When limit is set, it reads at most about max bytes past the start of any
// element, and reports a bad array as a record, not an error.
func (r *fileReader) splitArray(in io.Reader, start int, limit bool) error {
	lc := &lineCounter{r: in, line: start}
	if limit {
		lc.limit = int64(r.max) + bufSize
	}
	dec := json.NewDecoder(lc)
	// broken reports the element or token starting at the decoder's
	// position as unreadable; it ends the file.
	broken := func(err error) error {
		if lc.err != nil {
			return r.ioErr(lc.err)
		}
		off := dec.InputOffset()
		if rest, _ := io.ReadAll(io.LimitReader(dec.Buffered(), 1<<20)); len(rest) > 0 {
			off += int64(len(rest) - len(bytes.TrimLeft(rest, " \t\r\n")))
		}
		line := lc.lineAt(off)
		if errors.Is(err, errLimit) {
			return r.tooLarge(line, -1)
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return r.fn(Record{File: r.name, Origin: r.origin(line), Err: fmt.Errorf("%w: %v; the rest of the file is not read", ErrMalformed, err)})
	}

	if _, err := dec.Token(); err != nil { // '['
		return broken(err)
	}
	for dec.More() {
		lc.mark = dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return broken(err)
		}
		line := lc.lineAt(dec.InputOffset() - int64(len(raw)))
		var err error
		if len(raw) > r.max {
			err = r.tooLarge(line, len(raw))
		} else {
			err = r.fn(Record{Data: raw, File: r.name, Origin: r.origin(line)})
		}
		if err != nil {
			return err
		}
	}
	lc.mark = dec.InputOffset()
	if _, err := dec.Token(); err != nil { // ']'
		return broken(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the top-level array")
		}
		return broken(err)
	}
	return nil
}

func (r *fileReader) emit(data []byte, line int) error {
	return r.fn(Record{Data: data, File: r.name, Origin: r.origin(line)})
}

// tooLarge reports the record starting on line, n bytes long (n < 0: size
// unknown), as unreadable.
func (r *fileReader) tooLarge(line, n int) error {
	err := fmt.Errorf("%w (%d bytes)", ErrTooLarge, r.max)
	if n >= 0 {
		err = fmt.Errorf("%w: %d bytes, over the limit of %d", ErrTooLarge, n, r.max)
	}
	return r.fn(Record{File: r.name, Origin: r.origin(line), Err: err})
}

func (r *fileReader) origin(line int) string {
	return r.name + ":" + strconv.Itoa(line)
}

func (r *fileReader) ioErr(err error) error {
	return fmt.Errorf("%s: %w", r.name, err)
}

// skipSpace consumes JSON whitespace, counting lines. It returns io.EOF at
// the end of the input.
func (r *fileReader) skipSpace() error {
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return err
		}
		switch c {
		case '\n':
			r.line++
		case ' ', '\t', '\r':
		default:
			return r.br.UnreadByte()
		}
	}
}

// readLine reads the next line, without its '\n'. n is the line's length
// without a final '\r'; long reports n > max. A long line is consumed and
// not returned, unless keep is set: then the bytes read so far are returned
// (a little over max, and with the '\n' if the whole line was read) and the
// rest of the line is left unread. With keep the line is a copy; without,
// it is valid until the next read. err is io.EOF only when no bytes were
// left.
func (r *fileReader) readLine(keep bool) (line []byte, n int, long bool, err error) {
	r.buf = r.buf[:0]
	cr := false // the line so far ends in '\r'
	for {
		chunk, err := r.br.ReadSlice('\n')
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return nil, 0, false, err
		}
		eol := err == nil
		if eol {
			r.line++
			chunk = chunk[:len(chunk)-1]
		}
		n += len(chunk)
		if len(chunk) > 0 {
			cr = chunk[len(chunk)-1] == '\r'
		}
		if err == bufio.ErrBufferFull {
			if !long {
				r.buf = append(r.buf, chunk...)
				if len(r.buf) > r.max+1 { // long even if a '\r' ends it
					if keep {
						return bytes.Clone(r.buf), n, true, nil
					}
					long = true
				}
			}
			continue
		}

		// End of line, or of input.
		if !eol && n == 0 {
			return nil, 0, false, io.EOF
		}
		if cr {
			n--
		}
		if !long {
			line = chunk // the common case: the line was in the buffer
			if len(r.buf) > 0 {
				r.buf = append(r.buf, chunk...)
				line = r.buf
			}
			long = n > r.max
		}
		switch {
		case !long && keep:
			return bytes.Clone(line), n, false, nil
		case !long:
			return line, n, false, nil
		case keep && eol: // give the '\n' back, for the line count
			return append(bytes.Clone(line), '\n'), n, true, nil
		case keep:
			return bytes.Clone(line), n, true, nil
		default:
			return nil, n, true, nil
		}
	}
}

// trimSpace trims JSON whitespace.
func trimSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// errLimit stops the JSON decoder when an element outgrows the limit.
var errLimit = errors.New("element over the size limit")

// lineCounter passes a reader through, recording where its newlines are so
// that byte offsets can be turned into line numbers, and optionally
// refusing to read more than limit bytes past mark.
type lineCounter struct {
	r     io.Reader
	n     int64   // bytes read so far
	nl    []int64 // offsets of newlines read and not yet passed by lineAt
	line  int     // line at the offset last passed to lineAt
	limit int64   // 0: none
	mark  int64
	err   error // the underlying reader's error, other than io.EOF
}

func (c *lineCounter) Read(p []byte) (int, error) {
	if c.limit > 0 {
		room := c.mark + c.limit - c.n
		if room <= 0 {
			return 0, errLimit
		}
		if int64(len(p)) > room {
			p = p[:room]
		}
	}
	n, err := c.r.Read(p)
	for i := 0; i < n; {
		j := bytes.IndexByte(p[i:n], '\n')
		if j < 0 {
			break
		}
		c.nl = append(c.nl, c.n+int64(i+j))
		i += j + 1
	}
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// lineAt returns the line of byte offset off. Offsets must not decrease
// from one call to the next.
func (c *lineCounter) lineAt(off int64) int {
	k := 0
	for k < len(c.nl) && c.nl[k] < off {
		k++
	}
	c.line += k
	c.nl = append(c.nl[:0], c.nl[k:]...)
	return c.line
}

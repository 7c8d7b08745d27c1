package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nsalloc/nsalloc/naming"
)

// maxLineBytes is the longest line an import file may have; a longer one
// is a malformed row. The longest valid row is well under 1 KiB.
const maxLineBytes = 64 << 10

// row is one app of an import file.
type row struct {
	line    int // 1-based line number in the file
	appID   string
	appName string
	err     error // why the row cannot be imported; nil for a good row
}

// rowFormat is the format of an import file.
type rowFormat int

const (
	formatUnknown rowFormat = iota // no data line read yet
	formatCSV
	formatJSONLines
)

// rowReader reads the rows of an import file: CSV lines "app_id,app_name"
// with an optional header line of those two words, or JSON lines
// {"app_id": "...", "app_name": "..."}, told apart by the first non-blank
// character of the file. Blank lines are skipped. Each line is one row,
// parsed on its own, so that a malformed line spoils no other.
type rowReader struct {
	r      *bufio.Reader
	line   int
	format rowFormat
}

// newRowReader returns a reader of the rows of r.
func newRowReader(r io.Reader) *rowReader {
	return &rowReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next row, io.EOF after the last, or the error of the
// underlying reader.
func (rr *rowReader) next() (row, error) {
	for {
		text, tooLong, err := rr.readLine()
		if err != nil {
			return row{}, err
		}
		if rr.line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if tooLong {
			return row{line: rr.line,
				err: fmt.Errorf("line longer than %d bytes", maxLineBytes)}, nil
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}

		first := rr.format == formatUnknown
		if first && strings.HasPrefix(text, "{") {
			rr.format = formatJSONLines
		} else if first {
			rr.format = formatCSV
		}
		if rr.format == formatJSONLines {
			return parseJSONRow(rr.line, text), nil
		}
		if first && isHeader(text) {
			continue
		}
		return parseCSVRow(rr.line, text), nil
	}
}

// readLine reads one line without its end, and reports whether it was
// longer than maxLineBytes, in which case the text is dropped.
func (rr *rowReader) readLine() (text string, tooLong bool, err error) {
	var buf []byte
	for {
		part, more, err := rr.r.ReadLine()
		if err != nil {
			return "", false, err
		}
		if !tooLong {
			buf = append(buf, part...)
			if len(buf) > maxLineBytes {
				tooLong, buf = true, nil
			}
		}
		if !more {
			rr.line++
			return string(buf), tooLong, nil
		}
	}
}

// isHeader reports whether a CSV line is the header "app_id,app_name".
func isHeader(text string) bool {
	fields, err := csvFields(text)
	return err == nil && len(fields) == 2 &&
		strings.EqualFold(fields[0], "app_id") && strings.EqualFold(fields[1], "app_name")
}

// csvFields splits one CSV line into its fields.
func csvFields(text string) ([]string, error) {
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	fields, err := r.Read()
	var parseErr *csv.ParseError
	if errors.As(err, &parseErr) {
		return nil, fmt.Errorf("bad CSV at column %d: %v", parseErr.Column, parseErr.Err)
	}
	return fields, err
}

// parseCSVRow reads the row of one CSV line.
func parseCSVRow(line int, text string) row {
	fields, err := csvFields(text)
	switch {
	case err != nil:
		return row{line: line, err: err}
	case len(fields) != 2:
		return row{line: line, appID: fields[0],
			err: fmt.Errorf("%d fields, want 2 (app_id,app_name)", len(fields))}
	}
	return checkRow(row{line: line, appID: fields[0], appName: fields[1]})
}

// parseJSONRow reads the row of one JSON line.
func parseJSONRow(line int, text string) row {
	var v struct {
		AppID   *string `json:"app_id"`
		AppName *string `json:"app_name"`
	}
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return row{line: line, err: fmt.Errorf("bad JSON: %v", err)}
	}
	r := row{line: line}
	if v.AppID != nil {
		r.appID = *v.AppID
	}
	if v.AppName != nil {
		r.appName = *v.AppName
	}
	return checkRow(r)
}

// checkRow sets the error of a row whose fields are missing or whose app
// id is not one; the server checks the rest.
func checkRow(r row) row {
	r.appID = strings.TrimSpace(r.appID)
	switch {
	case r.appID == "":
		r.err = errors.New("missing app_id")
	case strings.TrimSpace(r.appName) == "":
		r.err = errors.New("missing app_name")
	default:
		if _, err := naming.ParseAppID(r.appID); err != nil {
			r.err = fmt.Errorf("app_id %q: %v", r.appID, err)
		}
	}
	return r
}

// Package console is the terminal front end: one user, one conversation,
// buttons shown numbered. It is also the reference adapter the end-to-end
// tests drive.
package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/content/markup"
)

// Platform is the platform name of the terminal.
const Platform = "console"

// Key is the terminal's conversation and user key: the same in every run,
// so a stored conversation continues.
const Key = "console:local"

// Handler runs an update to the end (bot.Dispatcher.Handle).
type Handler interface {
	Handle(ctx context.Context, u bot.Update) error
}

// Console reads lines from In and writes replies to Out.
type Console struct {
	In  io.Reader
	Out io.Writer
	// Lang, when set, is the language asked for on the command line.
	Lang string
	// Styled shows bold text and a prompt: for a terminal, not a pipe.
	Styled bool
	// MaxLine caps a line read from In (default 64 KiB); longer input is
	// cut there and the engine says it is too long.
	MaxLine int

	mu  sync.Mutex
	run string
	n   int
}

var _ bot.Sender = (*Console)(nil)

// Send prints a reply: the text, then its buttons numbered one per line.
func (c *Console) Send(_ context.Context, r bot.Reply) error {
	if r.Kind == bot.Collapse {
		return nil // a terminal cannot take buttons back
	}
	p := markup.Plain{}
	if c.Styled {
		p.Bold, p.Reset = "\x1b[1m", "\x1b[0m"
	}
	var b strings.Builder
	b.WriteString(markup.Render(p, r.Text))
	b.WriteByte('\n')
	for i, btn := range r.Buttons {
		fmt.Fprintf(&b, "%d) %s\n", i+1, btn.Label)
	}
	b.WriteByte('\n')
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := io.WriteString(c.Out, b.String())
	return err
}

// Run shows where the conversation is, then handles one line at a time
// until In ends (nil) or ctx is cancelled.
func (c *Console) Run(ctx context.Context, h Handler) error {
	c.run = fmt.Sprintf("%x", time.Now().UnixNano())
	if err := h.Handle(ctx, c.update(bot.Update{Kind: bot.KindResume})); err != nil {
		return err
	}
	max := c.MaxLine
	if max <= 0 {
		max = 64 << 10
	}
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(c.In, 4096)
		for {
			line, err := readLine(r, max)
			if err == nil || (errors.Is(err, io.EOF) && line != "") {
				select {
				case lines <- line:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				errc <- err
				return
			}
		}
	}()
	for {
		if c.Styled {
			c.mu.Lock()
			io.WriteString(c.Out, "> ")
			c.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case line := <-lines:
			if err := h.Handle(ctx, c.update(parse(line))); err != nil {
				if errors.Is(err, context.Canceled) || errors.Is(err, bot.ErrClosed) {
					return nil
				}
				return err
			}
		}
	}
}

// readLine reads one line, keeping at most max bytes of it.
func readLine(r *bufio.Reader, max int) (string, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf) < max {
			buf = append(buf, chunk[:min(len(chunk), max-len(buf))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return strings.TrimRight(string(buf), "\r\n"), err
	}
}

func (c *Console) update(u bot.Update) bot.Update {
	c.n++
	u.ID = fmt.Sprintf("console:%s:%d", c.run, c.n)
	u.Platform = Platform
	u.Conv, u.User = Key, Key
	u.Lang = c.Lang
	u.LangExplicit = c.Lang != ""
	return u
}

// parse reads "/cmd args" as a command, anything else as text.
func parse(line string) bot.Update {
	if name, args, ok := bot.ParseCommand(line); ok {
		return bot.Update{Kind: bot.KindCommand, Command: name, Args: args}
	}
	return bot.Update{Kind: bot.KindText, Text: line}
}

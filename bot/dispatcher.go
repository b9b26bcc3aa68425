package bot

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/flows"
)

// Sender delivers replies to one platform. Send returns once the platform
// accepted the reply; it retries what is worth retrying (rate limits,
// server errors) itself, and returns an error wrapping ErrPermanent for
// what retrying cannot fix.
type Sender interface {
	Send(ctx context.Context, r Reply) error
}

// ErrPermanent marks a send failure that retrying cannot fix: the user
// blocked the bot, the channel is gone. The reply is dropped.
var ErrPermanent = errors.New("permanent send failure")

// ErrClosed is returned by Accept once the Dispatcher is shutting down; the
// adapter must not acknowledge the update, so the platform delivers it
// again later.
var ErrClosed = errors.New("bot: dispatcher is shutting down")

// Config configures a Dispatcher. Zero values take the defaults.
type Config struct {
	Store   Store
	Pack    *content.Pack
	Senders map[string]Sender
	Log     *slog.Logger
	Obs     Observer

	SessionTTL  time.Duration // idle conversations expire; default 30 days
	DeliveryTTL time.Duration // done delivery ids are kept; default 48 h
	// UserRate is how many messages a user may send per RateWindow before
	// the excess is dropped; 0 turns the limit off.
	UserRate   int
	RateWindow time.Duration // default 10 s
	// Lease is how long a worker may hold a conversation; an inbox entry
	// older than this with nobody working on it is recovered.
	Lease        time.Duration // default 2 min
	RecoverEvery time.Duration // default 5 s
	RemindEvery  time.Duration // how often due reminders are looked for; default 15 s
	QueueSize    int           // per conversation; default 64
	// AcceptTimeout bounds the inbox write a platform waits on, so a store
	// that hangs makes Accept fail (and the platform deliver again) instead
	// of holding a webhook or the poll loop; Slack wants its ack in 3 s.
	AcceptTimeout time.Duration // default 2 s
	MaxTurns      int           // turns running at once; default 1024
	// DrainTimeout bounds how long Run waits, after its context ends, for
	// turns in flight to finish and send their replies.
	DrainTimeout time.Duration // default 15 s
	Now          func() time.Time
	Owner        string // lease owner id; default random per process
}

// Dispatcher runs turns: one conversation's updates strictly in order,
// different conversations in parallel. See the package documentation for
// how it answers each message exactly once.
type Dispatcher struct {
	cfg    Config
	engine *flows.Engine

	mu      sync.Mutex
	convs   map[string]*queue
	known   map[string]bool            // delivery ids queued or running here
	waiting map[string][]chan struct{} // Handle calls for a delivery already known (see enqueue)
	closing bool
	closed  chan struct{}
	wg      sync.WaitGroup
	sem     chan struct{}
	lim     *limiter

	work     context.Context // for turns and sends; ends at the drain deadline
	stopWork context.CancelFunc

	testHook func(*Update) // called in each turn; tests make it panic
}

type job struct {
	u    Update
	done chan struct{} // closed when the turn is over (Handle waits on it)
	// redelivered: Accept found the delivery already in the inbox, so if
	// Begin finds it done, this was a duplicate the store's record dropped.
	redelivered bool
}

// queue is one conversation's waiting turns. Appending and the worker's
// exit check happen under Dispatcher.mu, so a job is never left behind.
type queue struct {
	items []job
	space chan struct{} // closed when a full queue gets room; nil otherwise
}

// New returns a Dispatcher. It does no I/O.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Store == nil || cfg.Pack == nil || cfg.Pack.Engine == nil {
		return nil, errors.New("bot: a dispatcher needs a store and a loaded pack")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Obs == nil {
		cfg.Obs = nopObserver{}
	}
	if cfg.Senders == nil {
		cfg.Senders = map[string]Sender{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.SessionTTL, 30*24*time.Hour)
	def(&cfg.DeliveryTTL, 48*time.Hour)
	def(&cfg.RateWindow, 10*time.Second)
	def(&cfg.Lease, 2*time.Minute)
	def(&cfg.RecoverEvery, 5*time.Second)
	def(&cfg.RemindEvery, 15*time.Second)
	def(&cfg.DrainTimeout, 15*time.Second)
	def(&cfg.AcceptTimeout, 2*time.Second)
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 64
	}
	if cfg.MaxTurns <= 0 {
		cfg.MaxTurns = 1024
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Owner == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cfg.Owner = hex.EncodeToString(b[:])
	}
	work, stop := context.WithCancel(context.Background())
	return &Dispatcher{
		cfg:      cfg,
		engine:   cfg.Pack.Engine,
		convs:    map[string]*queue{},
		known:    map[string]bool{},
		waiting:  map[string][]chan struct{}{},
		closed:   make(chan struct{}),
		sem:      make(chan struct{}, cfg.MaxTurns),
		lim:      newLimiter(cfg.UserRate, cfg.RateWindow),
		work:     work,
		stopWork: stop,
	}, nil
}

// AddSender registers the sender of a platform. Call it before Run.
func (d *Dispatcher) AddSender(platform string, s Sender) { d.cfg.Senders[platform] = s }

// Accept records an update durably and queues its turn. When it returns nil
// the adapter may acknowledge the platform. A duplicate of a handled update
// returns nil and does nothing.
func (d *Dispatcher) Accept(ctx context.Context, u Update) error {
	_, err := d.accept(ctx, u, nil)
	return err
}

// Handle is Accept that also waits until the turn's replies are sent. The
// terminal uses it to keep its transcript in order.
func (d *Dispatcher) Handle(ctx context.Context, u Update) error {
	done := make(chan struct{})
	queued, err := d.accept(ctx, u, done)
	if err != nil || !queued {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Dispatcher) accept(ctx context.Context, u Update, done chan struct{}) (bool, error) {
	if d.isClosing() {
		return false, ErrClosed
	}
	if u.At.IsZero() {
		u.At = d.cfg.Now()
	}
	switch d.lim.allow(u.User, d.cfg.Now()) {
	case overLimit:
		d.cfg.Obs.Throttled(&u)
		return false, nil
	case firstOver:
		d.cfg.Obs.Throttled(&u)
		u.Throttled = true
	}
	data, err := encodeUpdate(&u)
	if err != nil {
		return false, fmt.Errorf("bot: encode update: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, d.cfg.AcceptTimeout)
	st, err := d.cfg.Store.PutInbox(pctx, Delivery{ID: u.ID, Conv: u.Conv, At: u.At, Data: data})
	cancel()
	if err != nil {
		return false, fmt.Errorf("bot: record update: %w", err)
	}
	// Duplicates are counted where one is dropped, not from the inbox
	// state alone: a pending redelivery nobody here works on is run.
	switch st {
	case InboxDone:
		d.cfg.Obs.Duplicate(&u)
		return false, nil
	case InboxPending:
		if d.isKnown(u.ID) {
			d.cfg.Obs.Duplicate(&u)
			return false, nil // already queued or running here
		}
		// A redelivery of something nobody here is working on: run it.
	}
	joined, err := d.enqueue(ctx, job{u: u, done: done, redelivered: st == InboxPending})
	if err != nil {
		return false, err
	}
	if joined && st == InboxPending {
		d.cfg.Obs.Duplicate(&u)
	}
	return true, nil
}

func (d *Dispatcher) isClosing() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closing
}

func (d *Dispatcher) isKnown(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.known[id]
}

// enqueue queues a job; joined reports that its delivery was already
// queued or running here, so this job is not run (its done waits for that).
func (d *Dispatcher) enqueue(ctx context.Context, j job) (joined bool, err error) {
	conv := j.u.Conv
	d.mu.Lock()
	for {
		if d.closing {
			d.mu.Unlock()
			return false, ErrClosed
		}
		if d.known[j.u.ID] {
			// Queued or running already (the start-up recovery may take a
			// delivery between its PutInbox and here): a Handle waiting
			// for it ends with that turn.
			if j.done != nil {
				d.waiting[j.u.ID] = append(d.waiting[j.u.ID], j.done)
			}
			d.mu.Unlock()
			return true, nil
		}
		q := d.convs[conv]
		if q == nil {
			q = &queue{}
			d.convs[conv] = q
			d.wg.Add(1)
			go d.worker(conv, q)
		}
		if len(q.items) < d.cfg.QueueSize {
			q.items = append(q.items, j)
			d.known[j.u.ID] = true
			d.mu.Unlock()
			return false, nil
		}
		// Full: wait for the worker to take one, then look again.
		if q.space == nil {
			q.space = make(chan struct{})
		}
		space := q.space
		d.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return false, ctx.Err()
		case <-d.closed:
			return false, ErrClosed
		}
		d.mu.Lock()
	}
}

// worker runs one conversation's turns in order, and exits when its queue
// is empty.
func (d *Dispatcher) worker(conv string, q *queue) {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		if d.closing || len(q.items) == 0 {
			delete(d.convs, conv)
			left := q.items
			q.items = nil
			if q.space != nil {
				close(q.space)
				q.space = nil
			}
			d.mu.Unlock()
			// Whatever is left stays in the inbox for the next start.
			for _, j := range left {
				d.unknow(j)
			}
			return
		}
		j := q.items[0]
		q.items[0] = job{}
		q.items = q.items[1:]
		if q.space != nil {
			close(q.space)
			q.space = nil
		}
		d.mu.Unlock()
		d.process(j)
		d.unknow(j)
	}
}

func (d *Dispatcher) unknow(j job) {
	d.mu.Lock()
	delete(d.known, j.u.ID)
	waiting := d.waiting[j.u.ID]
	delete(d.waiting, j.u.ID)
	d.mu.Unlock()
	if j.done != nil {
		close(j.done)
	}
	for _, w := range waiting {
		close(w)
	}
}

// Run recovers unfinished work, then keeps recovering until ctx ends. Then
// it stops accepting updates and waits, up to DrainTimeout, for turns in
// flight to finish and send their replies.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.recoverInbox(ctx, true)
	d.fireReminders(ctx)
	t := time.NewTicker(d.cfg.RecoverEvery)
	defer t.Stop()
	rt := time.NewTicker(d.cfg.RemindEvery)
	defer rt.Stop()
	for {
		select {
		case <-ctx.Done():
			d.drain()
			return nil
		case <-t.C:
			d.recoverInbox(ctx, false)
		case <-rt.C:
			d.fireReminders(ctx)
		}
	}
}

func (d *Dispatcher) drain() {
	d.mu.Lock()
	if !d.closing {
		d.closing = true
		close(d.closed)
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d.cfg.DrainTimeout):
		d.cfg.Log.Warn("shutdown: turns still running at the deadline; they resume at the next start")
		d.stopWork()
		<-done
	}
	d.stopWork()
}

// Idle reports whether no turn is queued or running (for tests and tools).
func (d *Dispatcher) Idle() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.convs) == 0 && len(d.known) == 0
}

// recoverInbox queues waiting deliveries nobody here is working on. At start
// it takes them all; later only those older than a lease, which another
// process would have finished by now if it were alive.
func (d *Dispatcher) recoverInbox(ctx context.Context, all bool) {
	ds, err := d.cfg.Store.Inbox(ctx, 1000)
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Log.Warn("recover: cannot list the inbox", "err", err)
		}
		return
	}
	now := d.cfg.Now()
	for _, del := range ds {
		if !all && now.Sub(del.At) < d.cfg.Lease {
			continue
		}
		if d.isKnown(del.ID) {
			continue
		}
		u, err := decodeUpdate(del.Data)
		if err != nil {
			d.cfg.Log.Error("recover: unreadable inbox entry, dropping it", "conv", ConvHash(del.Conv), "err", err)
			_ = d.cfg.Store.Finish(ctx, del.Conv, del.ID, "")
			continue
		}
		if _, err := d.enqueue(ctx, job{u: u}); err != nil {
			return
		}
	}
}

// process runs one delivery through steps 2 to 4 (see the package doc).
func (d *Dispatcher) process(j job) {
	ctx := d.work
	u := &j.u
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			return
		}
		rec, ok := d.begin(ctx, u)
		if !ok {
			return
		}
		// Replies an earlier run left in the outbox go first; their marks
		// are written with this turn's.
		left, ok := d.flushStored(ctx, u.Conv, rec.Outbox)
		if !ok {
			d.finish(u, "", left)
			return
		}
		if rec.Done {
			if j.redelivered {
				d.cfg.Obs.Duplicate(u) // handled by another process or an earlier run
			}
			d.finish(u, u.ID, left)
			return
		}
		d.sem <- struct{}{}
		start := time.Now()
		c, replies, res := d.turn(u, &rec)
		err := d.commit(ctx, c)
		<-d.sem
		if errors.Is(err, ErrConflict) && attempt < 20 {
			// Another process advanced the conversation: run on its state.
			d.finish(u, "", left)
			continue
		}
		if err != nil {
			d.finish(u, "", left)
			return
		}
		took := time.Since(start)
		d.cfg.Obs.Turn(u, res, took)
		if d.cfg.Log.Enabled(ctx, slog.LevelDebug) {
			d.cfg.Log.Debug("turn", "platform", u.Platform, "conv", ConvHash(u.Conv),
				"from", res.From, "to", res.To, "outcome", string(res.Outcome), "took", took)
		}
		sent, ok := d.flush(ctx, u.Conv, c.Outbox, replies)
		if !ok {
			d.finish(u, "", append(left, sent...))
			return
		}
		d.finish(u, u.ID, append(left, sent...))
		return
	}
}

// begin takes the lease, waiting while another owner holds it and retrying
// while the store is unreachable.
func (d *Dispatcher) begin(ctx context.Context, u *Update) (Record, bool) {
	l := Lease{Conv: u.Conv, User: u.User, Delivery: u.ID, Owner: d.cfg.Owner, TTL: d.cfg.Lease}
	wait := 5 * time.Millisecond
	for {
		rec, err := d.cfg.Store.Begin(ctx, l)
		if err == nil {
			return rec, true
		}
		if !errors.Is(err, ErrLocked) {
			d.cfg.Log.Warn("store: cannot load the conversation; retrying", "conv", ConvHash(u.Conv), "err", err)
		}
		// Nothing is held yet: on shutdown, leave the delivery in the inbox
		// for the next start rather than wait for a busy conversation.
		select {
		case <-d.closed:
			return Record{}, false
		default:
		}
		if !sleep(ctx, wait) {
			return Record{}, false
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// commit writes the turn, retrying while the store is unreachable.
func (d *Dispatcher) commit(ctx context.Context, c Commit) error {
	wait := 20 * time.Millisecond
	for {
		err := d.cfg.Store.Commit(ctx, c)
		if err == nil || errors.Is(err, ErrConflict) {
			return err
		}
		d.cfg.Log.Warn("store: cannot save the turn; retrying", "conv", ConvHash(c.Conv), "err", err)
		if !sleep(ctx, wait) {
			return err
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// finish ends a turn in one store write: the replies sent are marked, the
// delivery (when not "") leaves the inbox, the lease is released. The marks
// matter (a reply not marked would be sent again after a crash), so it
// retries while the store is unreachable and the lease is ours.
func (d *Dispatcher) finish(u *Update, delivery string, sent []uint64) {
	wait := 20 * time.Millisecond
	for {
		err := d.cfg.Store.Finish(d.work, u.Conv, delivery, d.cfg.Owner, sent...)
		if err == nil {
			return
		}
		if delivery == "" && len(sent) == 0 {
			return // only a release: the lease expires by itself
		}
		if !sleep(d.work, wait) {
			d.cfg.Log.Warn("store: cannot finish the turn", "conv", ConvHash(u.Conv), "err", err)
			return
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// turn runs the engine on the stored session and prepares the commit.
func (d *Dispatcher) turn(u *Update, rec *Record) (Commit, []Reply, *flows.Result) {
	var sess flows.Session
	if rec.Session != nil {
		if err := sess.UnmarshalBinary(rec.Session); err != nil {
			d.cfg.Log.Warn("session record unreadable; starting the conversation again", "conv", ConvHash(u.Conv))
			// A state no flow has: the engine resets it with a note.
			sess = flows.Session{Flow: d.engine.Definition().ID, State: "\x00unreadable"}
		}
	}
	user := decodeUser(rec.User)
	in := flows.Input{Text: u.Text, Lang: u.Lang, UserLang: user.Lang, TZ: user.TZ, Cases: user.Cases, Case: u.Case, Now: d.cfg.Now()}
	if u.LangExplicit {
		in.UserLang = u.Lang
	}
	if u.TZ != "" {
		in.TZ = u.TZ // the platform's own (Slack's profile) is the truth
	}
	switch u.Kind {
	case KindText:
		in.Kind = flows.InText
	case KindButton:
		in.Kind, in.Text = flows.InButton, u.Data
	case KindCommand:
		in.Kind, in.Command, in.Text = flows.InCommand, u.Command, u.Args
	case KindResume:
		in.Kind = flows.InResume
	case KindReminder:
		in.Kind = flows.InReminder
	default:
		in.Kind = flows.InOther
	}
	res, replies := d.run(u, sess, in)
	c := Commit{
		Conv: u.Conv, User: u.User, Delivery: u.ID, Version: rec.Version,
		Forget: res.Forget, SessionTTL: d.cfg.SessionTTL, DeliveryTTL: d.cfg.DeliveryTTL,
	}
	if !res.Forget && !res.Session.IsZero() {
		b, err := res.Session.MarshalBinary()
		if err == nil {
			c.Session = b
		}
	}
	changed := false
	if res.SetLang != "" && res.SetLang != user.Lang {
		user.Lang, changed = res.SetLang, true
	}
	if res.SetTZ != "" && res.SetTZ != user.TZ {
		user.TZ, changed = res.SetTZ, true
	}
	if res.SaveCase != nil {
		user.saveCase(*res.SaveCase)
		changed = true
		if res.SaveCase.Closed {
			c.Cancel = append(c.Cancel, reminderID(u.User, res.SaveCase.ID))
		}
	}
	if res.Remind != nil {
		if r, ok := d.reminder(u, res, user.TZ, in.TZ); ok {
			c.Reminders = append(c.Reminders, r)
		}
	}
	if changed && !res.Forget {
		c.UserData, _ = jsonUser(user)
	}
	c.Outbox = make([]Outgoing, len(replies))
	for i := range replies {
		data, _ := encodeReply(&replies[i])
		c.Outbox[i] = Outgoing{Seq: (rec.Version+1)<<8 | uint64(i), Data: data}
	}
	return c, replies, res
}

// run is the engine and the rendering, with a panic turned into a kind
// "please try again" and the session left as it was.
func (d *Dispatcher) run(u *Update, sess flows.Session, in flows.Input) (res *flows.Result, replies []Reply) {
	defer func() {
		if p := recover(); p != nil {
			d.cfg.Obs.Panic(u)
			// The value may carry message text (a formatted error): log
			// its type and where it happened, never the value.
			d.cfg.Log.Error("turn panicked; the session is kept as it was", "platform", u.Platform,
				"conv", ConvHash(u.Conv), "panic", fmt.Sprintf("%T", p), "at", panicSite(6))
			r := d.engine.Failure(sess, in)
			res, replies = &r, d.render(u, &r)
		}
	}()
	if d.testHook != nil {
		d.testHook(u)
	}
	var r flows.Result
	if u.Throttled {
		r = d.engine.SlowDown(sess, in)
	} else {
		r = d.engine.Handle(sess, in)
	}
	return &r, d.render(u, &r)
}

// panicSite names up to n frames where a panic happened, innermost first,
// as function and file:line: no arguments, no values. Call it from the
// deferred function that recovers.
func panicSite(n int) string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	var out []string
	inPanic := false
	for len(out) < n {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			inPanic = true
		case inPanic && !strings.HasPrefix(f.Function, "runtime."):
			// runtime frames after gopanic are its machinery (sigpanic,
			// panicmem): the panic happened in the first frame that is not.
			out = append(out, fmt.Sprintf("%s %s:%d", f.Function, filepath.Base(f.File), f.Line))
		}
		if !more {
			break
		}
	}
	return strings.Join(out, " < ")
}

// flush sends the replies a turn just committed, in order, and returns
// the seqs of those the platform accepted (or refused for good).
func (d *Dispatcher) flush(ctx context.Context, conv string, out []Outgoing, replies []Reply) ([]uint64, bool) {
	m := d.newMarks(ctx, conv)
	sent := make([]uint64, 0, len(out))
	for i := range out {
		if !d.sendOne(ctx, conv, &replies[i], false) {
			m.done(false)
			return sent, false
		}
		sent = append(sent, out[i].Seq)
		if i < len(out)-1 {
			// The last one needs no mark of its own: Finish is next.
			m.add(out[i].Seq)
		}
	}
	// The turn's Finish comes next and carries every seq: marks not yet
	// started need not be written twice.
	m.done(false)
	return sent, true
}

// flushStored sends replies left in the outbox by an earlier run.
func (d *Dispatcher) flushStored(ctx context.Context, conv string, out []Outgoing) ([]uint64, bool) {
	if len(out) == 0 {
		return nil, true
	}
	m := d.newMarks(ctx, conv)
	sent := make([]uint64, 0, len(out))
	for _, o := range out {
		r, err := DecodeReply(o.Data)
		if err != nil {
			d.cfg.Log.Error("outbox: unreadable reply, dropping it", "conv", ConvHash(conv), "err", err)
			sent = append(sent, o.Seq)
			continue
		}
		if !d.sendOne(ctx, conv, &r, true) {
			m.done(false)
			return sent, false
		}
		sent = append(sent, o.Seq)
		m.add(o.Seq)
	}
	// A whole turn may run before the Finish that carries these: write
	// them all now.
	m.done(true)
	return sent, true
}

// marks writes the early MarkSent of one flush: a reply is marked sent as
// soon as the platform accepted it, in the background, so the next reply
// does not wait for a durable write and a crash later in the turn does not
// send it again. Replies accepted while a mark is being written share the
// next write (one store call for a burst, not one each). The turn's Finish
// carries the same seqs, so a mark that failed or was left out is not
// lost; the worker holds the lease until the writes are done.
type marks struct {
	d    *Dispatcher
	ctx  context.Context
	conv string

	mu      sync.Mutex
	pending []uint64
	writing bool
	stopped bool
	wg      sync.WaitGroup
}

func (d *Dispatcher) newMarks(ctx context.Context, conv string) *marks {
	return &marks{d: d, ctx: ctx, conv: conv}
}

// add queues seq to be marked, starting a writer if none is running.
func (m *marks) add(seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending = append(m.pending, seq)
	if m.writing {
		return
	}
	m.writing = true
	m.wg.Add(1)
	go m.write()
}

func (m *marks) write() {
	defer m.wg.Done()
	for {
		m.mu.Lock()
		seqs := m.pending
		m.pending = nil
		if len(seqs) == 0 || m.stopped {
			m.writing = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		// A failure is not lost (see above); the instrumented store counts it.
		_ = m.d.cfg.Store.MarkSent(m.ctx, m.conv, seqs...)
	}
}

// done waits for the writes under way; with all, it first lets the writer
// take what is still queued, otherwise that is left to the Finish.
func (m *marks) done(all bool) {
	m.mu.Lock()
	if !all {
		m.stopped = true
		m.pending = nil
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// errNoSender fails a reply to a platform that is not configured; it is
// counted like any failed send (a client_error: ours to fix).
var errNoSender = errors.New("bot: no sender for the platform")

// sendOne hands one reply to its platform; false leaves it (and those after
// it) in the outbox for a later run. resent marks a reply from the outbox.
func (d *Dispatcher) sendOne(ctx context.Context, conv string, r *Reply, resent bool) bool {
	s := d.cfg.Senders[r.Platform]
	if s == nil {
		d.cfg.Obs.Sent(r, resent, errNoSender)
		d.cfg.Log.Error("no sender for platform; the reply waits in the outbox", "platform", r.Platform, "conv", ConvHash(conv))
		return false
	}
	err := s.Send(ctx, *r)
	d.cfg.Obs.Sent(r, resent, err)
	switch {
	case err == nil:
	case errors.Is(err, ErrPermanent):
		d.cfg.Log.Warn("reply dropped: the platform refused it for good", "platform", r.Platform, "conv", ConvHash(conv), "err", err)
	default:
		if ctx.Err() == nil {
			d.cfg.Log.Warn("reply not sent; it stays in the outbox", "platform", r.Platform, "conv", ConvHash(conv), "err", err)
		}
		return false
	}
	return true
}

// ConvHash is how logs name a conversation: a short hash, never the
// platform's ids.
func ConvHash(conv string) string {
	h := sha256.Sum256([]byte(conv))
	return hex.EncodeToString(h[:6])
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

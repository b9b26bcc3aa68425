// Package metrics exposes what the bot does as Prometheus metrics: traffic,
// turns and their latency, replies (sent, resent, not sent by error class)
// and platform calls by outcome, rate-limit waits, duplicates, stale
// presses, store latency and errors, and the conversation funnel. No label
// ever holds a user id or text: platforms, kinds, outcomes, classes, states
// and choices are all from small fixed sets, and every known combination
// starts at 0 so dashboards and alerts see each series before the first
// message.
package metrics

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/flows"
)

// Platforms the bot runs on. The kinds of update are bot.UpdateKinds.
var (
	Platforms = []string{"telegram", "slack", "console"}
	outcomes  = []flows.Outcome{flows.Moved, flows.Stale, flows.Unmatched, flows.Invalid, flows.BadInput,
		flows.Commanded, flows.Unknown, flows.Reset, flows.Unsupported, flows.Failed, flows.Throttled}
	replyResults = []string{"sent", "dropped", "failed"}
	// A reply not sent has a result and its error's class; every pair
	// starts at 0, as the class is the adapter's (see bot.ErrorClass).
	failedResults = []string{"dropped", "failed"}
	storeOps      = []string{"put_inbox", "inbox", "begin", "commit", "mark_sent", "finish", "ping", "claim_reminders", "delete_reminder"}
)

// Metrics holds every series. It implements bot.Observer and
// bot.PlatformObserver.
type Metrics struct {
	Registry *prometheus.Registry

	received    *prometheus.CounterVec
	duplicates  *prometheus.CounterVec
	throttled   *prometheus.CounterVec
	turns       *prometheus.CounterVec
	turnLatency *prometheus.HistogramVec
	stale       *prometheus.CounterVec
	replies     *prometheus.CounterVec
	replyErrs   *prometheus.CounterVec
	resent      *prometheus.CounterVec
	calls       *prometheus.CounterVec
	callLatency *prometheus.HistogramVec
	waits       *prometheus.CounterVec
	waitSeconds *prometheus.CounterVec
	storeOps    *prometheus.HistogramVec
	storeErrs   *prometheus.CounterVec
	panics      prometheus.Counter
	active      prometheus.GaugeFunc
	entered     *prometheus.CounterVec
	chosen      *prometheus.CounterVec
	feedback    *prometheus.CounterVec

	mu     sync.Mutex
	recent map[string]time.Time // conversation key → last turn, for the active gauge
	window time.Duration
	now    func() time.Time
}

var (
	_ bot.Observer         = (*Metrics)(nil)
	_ bot.PlatformObserver = (*Metrics)(nil)
)

// New registers every metric on a new registry, with the flow's states and
// choices as the funnel's known labels, and build information.
func New(def *flows.Definition, version, commit string) *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{Registry: r, recent: map[string]time.Time{}, window: 15 * time.Minute, now: time.Now}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "supportbot", Name: name, Help: help}, labels)
		r.MustRegister(c)
		return c
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "supportbot", Name: name, Help: help, Buckets: buckets}, labels)
		r.MustRegister(h)
		return h
	}
	fast := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	m.received = counter("updates_received_total", "Updates received from a platform, by kind.", "platform", "kind")
	m.duplicates = counter("updates_duplicate_total", "Redelivered updates dropped: already handled, or queued or running.", "platform")
	m.throttled = counter("updates_throttled_total", "Updates over a user's rate limit (not processed).", "platform")
	m.turns = counter("turns_total", "Turns handled, by outcome.", "platform", "outcome")
	m.turnLatency = hist("turn_duration_seconds", "Time to run and save one turn (sending excluded).", fast, "platform")
	m.stale = counter("stale_presses_total", "Presses of buttons from an earlier step, or forged button data.", "platform")
	m.replies = counter("replies_total", "Reply send attempts by result: sent, dropped (refused for good), failed (kept for a retry).", "platform", "result")
	m.replyErrs = counter("reply_errors_total", "Replies not sent, by result (dropped, failed) and error class.", "platform", "result", "class")
	m.resent = counter("replies_resent_total", "Replies sent again from the outbox by a later run (each attempt).", "platform")
	m.calls = counter("api_calls_total", "Platform API call attempts by outcome class; rate_limited, server_error and network ones are retried.", "platform", "class")
	m.callLatency = hist("api_call_duration_seconds", "Platform API call latency.", fast, "platform")
	m.waits = counter("rate_limit_waits_total", "Times a platform asked us to wait (429 Retry-After).", "platform")
	m.waitSeconds = counter("rate_limit_wait_seconds_total", "Seconds spent waiting as a platform asked.", "platform")
	m.storeOps = hist("store_op_duration_seconds", "Store operation latency.", fast, "op")
	m.storeErrs = counter("store_errors_total", "Store operations that failed (not conflicts, busy leases or calls the caller cancelled).", "op")
	m.panics = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "supportbot", Name: "panics_total", Help: "Turns that panicked (recovered)."})
	r.MustRegister(m.panics)
	m.active = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "supportbot", Name: "active_conversations",
		Help: "Conversations with a turn in the last 15 minutes (this process)."}, m.countActive)
	r.MustRegister(m.active)
	m.entered = counter("funnel_entered_total", "Conversations reaching each step of the flow.", "state")
	m.chosen = counter("funnel_chosen_total", "Choices made at each step (problem, channel, ...).", "state", "choice")
	m.feedback = counter("feedback_total", `"This worked" / "this didn't" per text of the content pack.`, "key", "verdict")
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "supportbot", Name: "build_info", Help: "Version and commit of the running binary."}, []string{"version", "commit"})
	r.MustRegister(info)
	info.WithLabelValues(version, commit).Set(1)

	for _, p := range Platforms {
		for _, k := range bot.UpdateKinds {
			m.received.WithLabelValues(p, k)
		}
		for _, o := range outcomes {
			m.turns.WithLabelValues(p, string(o))
		}
		for _, res := range replyResults {
			m.replies.WithLabelValues(p, res)
		}
		for _, c := range bot.CallClasses {
			m.calls.WithLabelValues(p, string(c))
			if c == bot.CallOK {
				continue
			}
			for _, res := range failedResults {
				m.replyErrs.WithLabelValues(p, res, string(c))
			}
		}
		m.resent.WithLabelValues(p)
		m.duplicates.WithLabelValues(p)
		m.throttled.WithLabelValues(p)
		m.stale.WithLabelValues(p)
		m.waits.WithLabelValues(p)
		m.waitSeconds.WithLabelValues(p)
		m.turnLatency.WithLabelValues(p)
		m.callLatency.WithLabelValues(p)
	}
	for _, op := range storeOps {
		m.storeOps.WithLabelValues(op)
		m.storeErrs.WithLabelValues(op)
	}
	if def != nil {
		for _, name := range def.Order {
			m.entered.WithLabelValues(name)
			for _, c := range def.States[name].Choices {
				m.chosen.WithLabelValues(name, c.ID)
			}
		}
		for _, k := range FeedbackKeys(def) {
			m.feedback.WithLabelValues(k, flows.Worked)
			m.feedback.WithLabelValues(k, flows.Didnt)
		}
	}
	return m
}

// FeedbackKeys lists the texts people can rate: the first text of every
// state with a "worked / didn't" choice, for every value of its slots.
func FeedbackKeys(def *flows.Definition) []string {
	var keys []string
	seen := map[string]bool{}
	values := def.SlotValues()
	for _, name := range def.Order {
		st := def.States[name]
		rated := false
		for _, c := range st.Choices {
			rated = rated || c.Feedback != ""
		}
		if !rated {
			continue
		}
		key := st.Text
		if len(st.Texts) > 0 {
			key = st.Texts[0]
		}
		for _, k := range expandAll(key, values) {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// expandAll fills a key template with every combination of slot values.
func expandAll(key string, values map[string][]string) []string {
	out := []string{key}
	for _, slot := range flows.KeySlots(key) {
		var next []string
		for _, k := range out {
			for _, v := range values[slot] {
				next = append(next, strings.Replace(k, "{"+slot+"}", v, 1))
			}
		}
		out = next
	}
	return out
}

func (m *Metrics) countActive() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	cut := m.now().Add(-m.window)
	for k, t := range m.recent {
		if t.Before(cut) {
			delete(m.recent, k)
		}
	}
	return float64(len(m.recent))
}

// Duplicate implements bot.Observer.
func (m *Metrics) Duplicate(u *bot.Update) { m.duplicates.WithLabelValues(u.Platform).Inc() }

// Throttled implements bot.Observer.
func (m *Metrics) Throttled(u *bot.Update) { m.throttled.WithLabelValues(u.Platform).Inc() }

// Turn implements bot.Observer.
func (m *Metrics) Turn(u *bot.Update, res *flows.Result, took time.Duration) {
	m.turns.WithLabelValues(u.Platform, string(res.Outcome)).Inc()
	m.turnLatency.WithLabelValues(u.Platform).Observe(took.Seconds())
	if res.Outcome == flows.Stale {
		m.stale.WithLabelValues(u.Platform).Inc()
	}
	for _, s := range res.Entered {
		m.entered.WithLabelValues(s).Inc()
	}
	for _, c := range res.Choices {
		m.chosen.WithLabelValues(c.State, c.Choice).Inc()
	}
	if f := res.Feedback; f != nil {
		m.feedback.WithLabelValues(f.Key, f.Verdict).Inc()
	}
	m.mu.Lock()
	m.recent[u.Conv] = m.now()
	m.mu.Unlock()
}

// Sent implements bot.Observer.
func (m *Metrics) Sent(r *bot.Reply, resent bool, err error) {
	if resent {
		m.resent.WithLabelValues(r.Platform).Inc()
	}
	result := "sent"
	switch {
	case err == nil:
	case errors.Is(err, bot.ErrPermanent):
		result = "dropped"
	default:
		result = "failed"
	}
	m.replies.WithLabelValues(r.Platform, result).Inc()
	if err != nil {
		m.replyErrs.WithLabelValues(r.Platform, result, string(bot.ErrorClass(err))).Inc()
	}
}

// Panic implements bot.Observer.
func (m *Metrics) Panic(*bot.Update) { m.panics.Inc() }

// Received implements bot.PlatformObserver.
func (m *Metrics) Received(platform, kind string) { m.received.WithLabelValues(platform, kind).Inc() }

// Call implements bot.PlatformObserver.
func (m *Metrics) Call(platform, _ string, class bot.CallClass, took time.Duration) {
	m.calls.WithLabelValues(platform, string(class)).Inc()
	m.callLatency.WithLabelValues(platform).Observe(took.Seconds())
}

// Waited implements bot.PlatformObserver.
func (m *Metrics) Waited(platform string, d time.Duration) {
	m.waits.WithLabelValues(platform).Inc()
	m.waitSeconds.WithLabelValues(platform).Add(d.Seconds())
}

// Store wraps a store to time every operation and count the failed ones.
// It is the only place store errors are counted, so each counts once.
func (m *Metrics) Store(s bot.Store) bot.Store { return &timedStore{s: s, m: m} }

type timedStore struct {
	s bot.Store
	m *Metrics
}

func (t *timedStore) observe(ctx context.Context, op string, start time.Time, err error) {
	t.m.storeOps.WithLabelValues(op).Observe(time.Since(start).Seconds())
	switch {
	case err == nil, errors.Is(err, bot.ErrConflict), errors.Is(err, bot.ErrLocked):
		// Not failures: the protocol working (another process won).
	case errors.Is(ctx.Err(), context.Canceled):
		// The caller gave up (shutdown, a webhook client gone), not the
		// store. A deadline that passed is the store being slow: counted.
	default:
		t.m.storeErrs.WithLabelValues(op).Inc()
	}
}

func (t *timedStore) PutInbox(ctx context.Context, d bot.Delivery) (bot.InboxState, error) {
	start := time.Now()
	st, err := t.s.PutInbox(ctx, d)
	t.observe(ctx, "put_inbox", start, err)
	return st, err
}

func (t *timedStore) Inbox(ctx context.Context, limit int) ([]bot.Delivery, error) {
	start := time.Now()
	ds, err := t.s.Inbox(ctx, limit)
	t.observe(ctx, "inbox", start, err)
	return ds, err
}

func (t *timedStore) Begin(ctx context.Context, l bot.Lease) (bot.Record, error) {
	start := time.Now()
	rec, err := t.s.Begin(ctx, l)
	t.observe(ctx, "begin", start, err)
	return rec, err
}

func (t *timedStore) Commit(ctx context.Context, c bot.Commit) error {
	start := time.Now()
	err := t.s.Commit(ctx, c)
	t.observe(ctx, "commit", start, err)
	return err
}

func (t *timedStore) MarkSent(ctx context.Context, conv string, seqs ...uint64) error {
	start := time.Now()
	err := t.s.MarkSent(ctx, conv, seqs...)
	t.observe(ctx, "mark_sent", start, err)
	return err
}

func (t *timedStore) Finish(ctx context.Context, conv, delivery, owner string, sent ...uint64) error {
	start := time.Now()
	err := t.s.Finish(ctx, conv, delivery, owner, sent...)
	t.observe(ctx, "finish", start, err)
	return err
}

func (t *timedStore) ClaimReminders(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]bot.Reminder, error) {
	start := time.Now()
	rs, err := t.s.ClaimReminders(ctx, now, lease, limit)
	t.observe(ctx, "claim_reminders", start, err)
	return rs, err
}

func (t *timedStore) DeleteReminder(ctx context.Context, id, key string) error {
	start := time.Now()
	err := t.s.DeleteReminder(ctx, id, key)
	t.observe(ctx, "delete_reminder", start, err)
	return err
}

func (t *timedStore) Ping(ctx context.Context) error {
	start := time.Now()
	err := t.s.Ping(ctx)
	t.observe(ctx, "ping", start, err)
	return err
}

func (t *timedStore) Close() error { return t.s.Close() }

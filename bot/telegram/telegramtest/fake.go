// Package telegramtest is a fake Telegram Bot API on httptest, for tests and
// the load tool. It serves /bot<TOKEN>/<method>, records every call, and
// refuses what Telegram refuses: text of 1–4,096 characters after entity
// parsing (counted in UTF-16 code units), valid UTF-8, only the HTML tags
// Telegram knows and well nested, callback_data of 1–64 bytes, edits that
// change nothing ("message is not modified"), answering a callback query
// twice, a second getUpdates poller, getUpdates while a webhook is set.
//
// Tests play the users: UserMessage and Press queue updates, which the bot
// gets by long polling (getUpdates honours offset, limit and timeout) or,
// once it called setWebhook, by POSTs to its URL with the secret token.
// Inject makes calls fail (429 with retry_after, 5xx, 409, dropped
// connections) or answer slowly.
//
// Deliberate differences: setWebhook takes any absolute URL (Telegram wants
// HTTPS on 443, 80, 88 or 8443), so tests can use httptest's http://; only
// parse_mode HTML (or none) is understood; a bare "&" that starts no
// entity is refused, to catch text that was not escaped.
package telegramtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/supportbot/supportbot/bot/telegram/internal/tghtml"
)

// Defaults of a new Server.
const (
	DefaultToken = "123456:TEST-fake-token_for-tests"
	BotID        = 777000001
	BotUsername  = "supportbot_test_bot"
)

// Errors Telegram answers, as it words them.
const (
	DescNotModified = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"
	DescBlocked     = "Forbidden: bot was blocked by the user"
	DescConflictGU  = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
	DescConflictWH  = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
	DescQueryOld    = "Bad Request: query is too old and response timeout expired or query ID is invalid"
)

// Options configure a Server. The zero value is what tests want.
type Options struct {
	Token string // default DefaultToken
	// KeepMessages caps the messages kept per chat (0: all). The load tool
	// keeps a few, so memory stays flat.
	KeepMessages int
	// NoCallLog keeps no call log and no update history (the load tool).
	NoCallLog bool
	// OnEvent is called after every message the bot sends or edits and
	// every callback it answers, outside the fake's lock. It must not
	// block.
	OnEvent func(Event)
	// WebhookRetry is the pause before a webhook update that got no 2xx is
	// posted again (default 20 ms).
	WebhookRetry time.Duration
	// WebhookConns is how many webhook requests may be in flight at once
	// (Telegram's max_connections; default 1). One chat's updates are
	// still delivered one at a time, in order.
	WebhookConns int
}

// Chat is a chat users write in. Type is "private", "group" or
// "supergroup".
type Chat struct {
	ID      int64
	Type    string
	Title   string
	IsForum bool
}

// Private is the private chat of a user with the bot.
func Private(u User) Chat { return Chat{ID: u.ID, Type: "private"} }

// User is a Telegram user.
type User struct {
	ID           int64
	FirstName    string
	Username     string
	LanguageCode string
	IsBot        bool
}

// Button is one inline keyboard button.
type Button struct {
	Text string `json:"text"`
	Data string `json:"callback_data,omitempty"`
	URL  string `json:"url,omitempty"`
}

// Message is a message in a chat, as its members see it.
type Message struct {
	ID       int
	Chat     int64
	FromBot  bool
	From     User // the user, when not from the bot
	Text     string
	Raw      string // the text parameter as the bot sent it
	Parse    string // its parse_mode
	Keyboard [][]Button
	ReplyTo  int
	Thread   int
	Edits    int
	Kind     string // "text", or "photo", "sticker", ... for user messages
}

// Buttons lists the keyboard's buttons row by row.
func (m Message) Buttons() []Button {
	var out []Button
	for _, row := range m.Keyboard {
		out = append(out, row...)
	}
	return out
}

// Event is something the bot did: Method is sendMessage, editMessageText,
// editMessageReplyMarkup or answerCallbackQuery.
type Event struct {
	Method  string
	Chat    int64
	Message Message // the message after the call
	Query   string  // answerCallbackQuery's id
	At      time.Time
}

// Call is one recorded API call.
type Call struct {
	Seq      int
	Method   string
	Params   url.Values
	At       time.Time
	Status   int
	Desc     string // the error description, when not ok
	Injected bool   // the answer came from Inject
}

// Fault is an injected answer. A zero Code with a Delay is a slow answer
// that then succeeds.
type Fault struct {
	Code       int    // HTTP status and error_code: 429, 500, 502, 409, 403, ...
	Desc       string // default: Telegram's wording for Code
	RetryAfter int    // seconds, in parameters.retry_after (429)
	Delay      time.Duration
	Drop       bool  // close the connection without answering
	HTML       bool  // answer an HTML page, not the API's JSON (a proxy)
	Chat       int64 // only for calls to this chat; 0: any
}

// Server is the fake Bot API.
type Server struct {
	URL   string // the base: set TELEGRAM_API_URL to it
	Token string

	opts Options
	srv  *httptest.Server

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	calls    []Call
	seq      int
	faults   map[string][]Fault
	delays   map[string]time.Duration
	queue    []queued // updates not yet confirmed
	history  []queued // every update, for Redeliver
	nextUpd  int
	offset   int // the last offset getUpdates confirmed
	poller   chan struct{}
	webhook  Webhook
	inflight map[int64]bool // chats with a webhook request in flight
	chats    map[int64]*chatState
	queries  map[string]*query
	nextQ    int
	commands map[string]string // language_code → commands JSON
	blocked  map[int64]bool
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup
	whKick   chan struct{}
	whClient *http.Client
	conns    atomic.Int64
}

// Conns is the number of connections clients opened to the fake: a client
// that reuses its connections opens few.
func (s *Server) Conns() int64 { return s.conns.Load() }

type queued struct {
	id   int
	chat int64
	body []byte
}

type chatState struct {
	info   Chat
	msgs   []*Message
	byID   map[int]*Message
	nextID int
}

type query struct {
	chat int64
	msg  int
}

// Webhook is what setWebhook was given.
type Webhook struct {
	URL            string
	Secret         string
	AllowedUpdates []string
}

// New starts a fake Bot API. Close it when done.
func New(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.WebhookRetry <= 0 {
		opts.WebhookRetry = 20 * time.Millisecond
	}
	if opts.WebhookConns <= 0 {
		opts.WebhookConns = 1
	}
	s := &Server{
		Token:    opts.Token,
		opts:     opts,
		changed:  make(chan struct{}),
		faults:   map[string][]Fault{},
		delays:   map[string]time.Duration{},
		nextUpd:  1000,
		chats:    map[int64]*chatState{},
		queries:  map[string]*query{},
		commands: map[string]string{},
		blocked:  map[int64]bool{},
		inflight: map[int64]bool{},
		done:     make(chan struct{}),
		whKick:   make(chan struct{}, max(1, opts.WebhookConns)),
		whClient: &http.Client{Timeout: 30 * time.Second},
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.MaxHeaderBytes = 1 << 20
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.srv.Start()
	s.URL = s.srv.URL
	for range opts.WebhookConns {
		s.wg.Add(1)
		go s.deliver()
	}
	return s
}

// Close stops the server and ends pending long polls.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.wg.Wait()
}

// Client is an HTTP client for the fake (it is on loopback, plain HTTP).
func (s *Server) Client() *http.Client { return s.srv.Client() }

// touch wakes everyone waiting for a change; s.mu is held.
func (s *Server) touch() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// WaitFor waits until cond holds (checked after every change, and every
// few milliseconds for conditions outside the fake) or timeout passes, and
// reports whether it held. cond may call the Server's methods.
func (s *Server) WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-deadline.C:
			return cond()
		}
	}
}

// Inject queues faults for method ("" for any method): each matching call
// takes the next one.
func (s *Server) Inject(method string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], faults...)
}

// Faults reports how many injected faults are still waiting.
func (s *Server) Faults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += len(f)
	}
	return n
}

// SetDelay makes every call of method answer after d (0 removes it).
func (s *Server) SetDelay(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays[method] = d
}

// Block makes the user of a private chat block the bot (403) or unblock it.
func (s *Server) Block(chat int64, blocked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[chat] = blocked
}

// ---- what the users do ----

// MsgOption adds to a user's message.
type MsgOption func(m map[string]any, msg *Message)

// ReplyTo makes the message a reply to message id (its copy is included,
// as Telegram does).
func ReplyTo(id int) MsgOption {
	return func(m map[string]any, msg *Message) { msg.ReplyTo = id }
}

// InThread puts the message in a forum topic.
func InThread(id int) MsgOption {
	return func(m map[string]any, msg *Message) {
		msg.Thread = id
		m["message_thread_id"] = id
		m["is_topic_message"] = true
	}
}

// Content makes the message a photo, sticker, voice, ... instead of text.
func Content(kind string) MsgOption {
	return func(m map[string]any, msg *Message) {
		msg.Kind = kind
		switch kind {
		case "photo":
			m["photo"] = []map[string]any{{"file_id": "AgAD", "file_unique_id": "u1", "width": 90, "height": 90}}
		case "location":
			m["location"] = map[string]any{"latitude": 56.95, "longitude": 24.1}
		default:
			m[kind] = map[string]any{"file_id": "AwAD", "file_unique_id": "u2"}
		}
	}
}

// Caption gives a photo (or other content) a caption.
func Caption(text string) MsgOption {
	return func(m map[string]any, msg *Message) { m["caption"] = text }
}

// Service makes a service message (someone joined) with no text.
func Service() MsgOption {
	return func(m map[string]any, msg *Message) {
		msg.Kind = "service"
		m["new_chat_members"] = []map[string]any{{"id": 5, "is_bot": false, "first_name": "New"}}
	}
}

// UserMessage records a user's message in chat and queues its update. It
// returns the update id and the message.
func (s *Server) UserMessage(chat Chat, from User, text string, opts ...MsgOption) (int, Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, id, msg := s.userMessage(chat, from, text, "message", opts)
	s.enqueue(id, chat.ID, body)
	return id, msg
}

// NewUserUpdate is UserMessage without queueing: it returns the update's
// JSON, for posting to a webhook by hand.
func (s *Server) NewUserUpdate(chat Chat, from User, text string, opts ...MsgOption) (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, id, _ := s.userMessage(chat, from, text, "message", opts)
	return id, body
}

// Push queues an update of another kind ("edited_message",
// "channel_post", ...) carrying a user's message.
func (s *Server) Push(kind string, chat Chat, from User, text string, opts ...MsgOption) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, id, _ := s.userMessage(chat, from, text, kind, opts)
	s.enqueue(id, chat.ID, body)
	return id
}

func (s *Server) userMessage(chat Chat, from User, text, kind string, opts []MsgOption) ([]byte, int, Message) {
	c := s.chat(chat)
	msg := &Message{Chat: chat.ID, From: from, Text: text, Kind: "text"}
	m := map[string]any{}
	for _, o := range opts {
		o(m, msg)
	}
	if text != "" {
		m["text"] = text
		if strings.HasPrefix(text, "/") {
			n := len(strings.Fields(text)[0])
			m["entities"] = []map[string]any{{"type": "bot_command", "offset": 0, "length": n}}
		}
	}
	c.nextID++
	msg.ID = c.nextID
	m["message_id"] = msg.ID
	m["date"] = time.Now().Unix()
	m["chat"] = chatJSON(chat, from)
	m["from"] = userJSON(from)
	if msg.ReplyTo != 0 {
		if r := c.byID[msg.ReplyTo]; r != nil {
			m["reply_to_message"] = s.messageJSON(c, r, false)
		}
	}
	if kind == "edited_message" {
		m["edit_date"] = time.Now().Unix()
	}
	if kind == "message" || kind == "edited_message" {
		s.keep(c, msg)
	}
	s.nextUpd++
	id := s.nextUpd
	body, _ := json.Marshal(map[string]any{"update_id": id, kind: m})
	return body, id, *msg
}

// Press presses a button of message msg in chat: it must be a button the
// message shows now. It queues the callback query and returns the update
// and query ids.
func (s *Server) Press(chat Chat, from User, msg int, data string) (int, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[chat.ID]
	if c == nil || c.byID[msg] == nil {
		return 0, "", fmt.Errorf("telegramtest: no message %d in chat %d", msg, chat.ID)
	}
	found := false
	for _, b := range c.byID[msg].Buttons() {
		found = found || b.Data == data
	}
	if !found {
		return 0, "", fmt.Errorf("telegramtest: message %d shows no button %q", msg, data)
	}
	u, q := s.press(chat, from, msg, data)
	return u, q, nil
}

// PressAny queues a callback query with any data, on any message id, as a
// stale client or a forger would.
func (s *Server) PressAny(chat Chat, from User, msg int, data string) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.press(chat, from, msg, data)
}

func (s *Server) press(chat Chat, from User, msg int, data string) (int, string) {
	c := s.chat(chat)
	s.nextQ++
	qid := "q" + strconv.Itoa(s.nextQ)
	s.queries[qid] = &query{chat: chat.ID, msg: msg}
	var m map[string]any
	if r := c.byID[msg]; r != nil {
		m = s.messageJSON(c, r, true)
	} else {
		m = map[string]any{"message_id": msg, "date": time.Now().Unix(), "chat": chatJSON(chat, from),
			"from": botJSON(), "text": "…"}
	}
	cq := map[string]any{"id": qid, "from": userJSON(from), "message": m, "chat_instance": "ci" + strconv.FormatInt(chat.ID, 10)}
	if data != "" {
		cq["data"] = data
	}
	s.nextUpd++
	id := s.nextUpd
	body, _ := json.Marshal(map[string]any{"update_id": id, "callback_query": cq})
	s.enqueue(id, chat.ID, body)
	return id, qid
}

// Redeliver queues again every update from id on, as Telegram does when
// the bot crashed before confirming them.
func (s *Server) Redeliver(from int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	pending := map[int]bool{}
	for _, q := range s.queue {
		pending[q.id] = true
	}
	n := 0
	for _, q := range s.history {
		if q.id >= from && !pending[q.id] {
			s.queue = append(s.queue, q)
			n++
		}
	}
	sort.Slice(s.queue, func(i, j int) bool { return s.queue[i].id < s.queue[j].id })
	if s.offset > from {
		s.offset = from
	}
	s.touch()
	s.kick()
	return n
}

func (s *Server) enqueue(id int, chat int64, body []byte) {
	q := queued{id: id, chat: chat, body: body}
	s.queue = append(s.queue, q)
	if !s.opts.NoCallLog {
		s.history = append(s.history, q)
	}
	s.touch()
	s.kick()
}

func (s *Server) kick() {
	select {
	case s.whKick <- struct{}{}:
	default:
	}
}

func (s *Server) chat(c Chat) *chatState {
	cs := s.chats[c.ID]
	if cs == nil {
		if c.Type == "" {
			c.Type = "private"
		}
		cs = &chatState{info: c, byID: map[int]*Message{}}
		s.chats[c.ID] = cs
	}
	return cs
}

func (s *Server) keep(c *chatState, m *Message) {
	c.msgs = append(c.msgs, m)
	c.byID[m.ID] = m
	if k := s.opts.KeepMessages; k > 0 && len(c.msgs) > 2*k {
		for _, old := range c.msgs[:len(c.msgs)-k] {
			delete(c.byID, old.ID)
		}
		c.msgs = append([]*Message(nil), c.msgs[len(c.msgs)-k:]...)
	}
}

// ---- what tests look at ----

// Messages returns the chat's messages, oldest first.
func (s *Server) Messages(chat int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[chat]
	if c == nil {
		return nil
	}
	out := make([]Message, len(c.msgs))
	for i, m := range c.msgs {
		out[i] = copyMessage(m)
	}
	return out
}

// BotMessages returns the messages the bot sent in chat.
func (s *Server) BotMessages(chat int64) []Message {
	var out []Message
	for _, m := range s.Messages(chat) {
		if m.FromBot {
			out = append(out, m)
		}
	}
	return out
}

// Message returns one message.
func (s *Server) Message(chat int64, id int) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.chats[chat]; c != nil && c.byID[id] != nil {
		return copyMessage(c.byID[id]), true
	}
	return Message{}, false
}

func copyMessage(m *Message) Message {
	c := *m
	if m.Keyboard != nil {
		c.Keyboard = make([][]Button, len(m.Keyboard))
		for i, row := range m.Keyboard {
			c.Keyboard[i] = append([]Button(nil), row...)
		}
	}
	return c
}

// Calls returns the recorded calls, of the given methods (all when none).
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(methods) == 0 || contains(methods, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// Refused returns the calls the fake refused with a 4xx that was not
// injected: the bot broke a rule.
func (s *Server) Refused() []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Status >= 400 && c.Status < 500 && !c.Injected {
			out = append(out, c)
		}
	}
	return out
}

// Pending is the number of updates not yet confirmed.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Confirmed reports whether update id was confirmed (by a later offset or
// a 2xx from the webhook).
func (s *Server) Confirmed(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queue {
		if q.id == id {
			return false
		}
	}
	return true
}

// Polling reports whether a getUpdates is waiting.
func (s *Server) Polling() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.poller != nil
}

// Offset is the last offset getUpdates was called with.
func (s *Server) Offset() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offset
}

// Unanswered lists the callback queries not answered yet.
func (s *Server) Unanswered() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.queries {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Commands returns the command menu set for a language code ("" default),
// as the JSON setMyCommands got.
func (s *Server) Commands(lang string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commands[lang]
}

// Webhook returns what setWebhook set.
func (s *Server) Webhook() Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhook
}

// PostWebhook posts an update to url with the given secret token header
// (none when secret is ""), as Telegram would, and returns the status.
func (s *Server) PostWebhook(url, secret string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := s.whClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// deliver posts queued updates to the webhook until each gets a 2xx. Several
// deliverers run at once (WebhookConns), but never two for one chat, so a
// chat's updates arrive in order.
func (s *Server) deliver() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		var q *queued
		wh := s.webhook
		if wh.URL != "" && !s.closed {
			for i := range s.queue {
				if !s.inflight[s.queue[i].chat] {
					q = &s.queue[i]
					break
				}
			}
		}
		if q == nil {
			s.mu.Unlock()
			select {
			case <-s.done:
				return
			case <-s.whKick:
			}
			continue
		}
		id, chat, body := q.id, q.chat, q.body
		s.inflight[chat] = true
		s.mu.Unlock()
		code, err := s.PostWebhook(wh.URL, wh.Secret, body)
		ok := err == nil && code >= 200 && code < 300
		s.mu.Lock()
		delete(s.inflight, chat)
		if ok {
			for i := range s.queue {
				if s.queue[i].id == id {
					copy(s.queue[i:], s.queue[i+1:])
					s.queue = s.queue[:len(s.queue)-1]
					break
				}
			}
		}
		s.touch()
		s.kick() // the chat's next update may go now
		s.mu.Unlock()
		if !ok {
			select {
			case <-s.done:
				return
			case <-time.After(s.opts.WebhookRetry):
			}
			s.kick()
		}
	}
}

// ---- the API ----

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || method == "" {
		writeErr(w, http.StatusNotFound, "Not Found", 0)
		return
	}
	params, err := readParams(r)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "Bad Request: "+err.Error(), 0)
		return
	}
	if token != s.Token {
		s.record(method, params, http.StatusUnauthorized, "Unauthorized", false)
		writeErr(w, http.StatusUnauthorized, "Unauthorized", 0)
		return
	}
	chat, _ := strconv.ParseInt(params.Get("chat_id"), 10, 64)
	s.mu.Lock()
	f, injected := s.takeFault(method, chat)
	delay := s.delays[method]
	s.mu.Unlock()
	if d := delay + f.Delay; d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
	if injected && f.Drop {
		s.record(method, params, 0, "connection dropped", true)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if injected && f.Code != 0 {
		desc := f.Desc
		if desc == "" {
			desc = describe(f.Code, f.RetryAfter)
		}
		s.record(method, params, f.Code, desc, true)
		if f.HTML {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(f.Code)
			fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>", f.Code, http.StatusText(f.Code))
			return
		}
		writeErr(w, f.Code, desc, f.RetryAfter)
		return
	}
	if method == "getUpdates" {
		s.getUpdates(w, r, params)
		return
	}
	// The pure checks (HTML, keyboards) run before the lock, the JSON
	// after it: the load tool sends thousands of calls a second.
	pre := precheck(method, params)
	s.mu.Lock()
	result, code, desc, events := s.handle(method, params, pre)
	s.recordLocked(method, params, code, desc, false)
	s.touch()
	s.mu.Unlock()
	switch {
	case code != http.StatusOK:
		writeErr(w, code, desc, 0)
	default:
		if lm, ok := result.(lazyMessage); ok {
			writeMessage(w, lm.json())
		} else {
			writeOK(w, result)
		}
	}
	if s.opts.OnEvent != nil {
		for _, e := range events {
			s.opts.OnEvent(e)
		}
	}
}

func (s *Server) takeFault(method string, chat int64) (Fault, bool) {
	for _, key := range []string{method, ""} {
		list := s.faults[key]
		for i, f := range list {
			if f.Chat == 0 || f.Chat == chat {
				s.faults[key] = append(list[:i:i], list[i+1:]...)
				return f, true
			}
		}
	}
	return Fault{}, false
}

func describe(code, retryAfter int) string {
	switch code {
	case 429:
		return fmt.Sprintf("Too Many Requests: retry after %d", retryAfter)
	case 409:
		return DescConflictGU
	case 403:
		return DescBlocked
	case 401:
		return "Unauthorized"
	}
	return http.StatusText(code)
}

func (s *Server) record(method string, p url.Values, status int, desc string, injected bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordLocked(method, p, status, desc, injected)
	s.touch()
}

func (s *Server) recordLocked(method string, p url.Values, status int, desc string, injected bool) {
	s.seq++
	if s.opts.NoCallLog {
		return
	}
	s.calls = append(s.calls, Call{Seq: s.seq, Method: method, Params: p, At: time.Now(), Status: status, Desc: desc, Injected: injected})
}

// handle runs one method; s.mu is held.
// checked is what precheck found in a message call's text and keyboard.
type checked struct {
	vis, textBad string
	kb           [][]Button
	kbBad        string
}

func precheck(method string, p url.Values) checked {
	var c checked
	switch method {
	case "sendMessage", "editMessageText":
		c.vis, c.textBad = checkText(p.Get("text"), p.Get("parse_mode"))
	}
	switch method {
	case "sendMessage", "editMessageText", "editMessageReplyMarkup":
		c.kb, c.kbBad = checkMarkup(p.Get("reply_markup"))
	}
	return c
}

// lazyMessage is a message result, turned into JSON after the lock.
type lazyMessage struct {
	chat  Chat
	m     Message
	reply *Message
}

func (l lazyMessage) json() map[string]any {
	out := messageJSONOf(l.chat, &l.m)
	if l.reply != nil {
		out["reply_to_message"] = messageJSONOf(l.chat, l.reply)
	}
	return out
}

func (s *Server) lazy(c *chatState, m *Message) lazyMessage {
	l := lazyMessage{chat: c.info, m: copyMessage(m)}
	if r := c.byID[m.ReplyTo]; m.ReplyTo != 0 && r != nil {
		rc := copyMessage(r)
		l.reply = &rc
	}
	return l
}

func (s *Server) handle(method string, p url.Values, pre checked) (any, int, string, []Event) {
	switch method {
	case "getMe":
		return botJSON(), 200, "", nil
	case "sendMessage":
		return s.sendMessage(p, pre)
	case "editMessageText":
		return s.editMessage(p, true, pre)
	case "editMessageReplyMarkup":
		return s.editMessage(p, false, pre)
	case "answerCallbackQuery":
		return s.answerCallback(p)
	case "setMyCommands":
		return s.setMyCommands(p)
	case "deleteWebhook":
		s.webhook = Webhook{}
		if p.Get("drop_pending_updates") == "true" {
			s.queue = nil
		}
		return true, 200, "", nil
	case "setWebhook":
		return s.setWebhook(p)
	case "getWebhookInfo":
		return map[string]any{"url": s.webhook.URL, "has_custom_certificate": false, "pending_update_count": len(s.queue)}, 200, "", nil
	}
	return nil, http.StatusNotFound, "Not Found: method not found", nil
}

var secretRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func (s *Server) setWebhook(p url.Values) (any, int, string, []Event) {
	u := p.Get("url")
	if u == "" {
		s.webhook = Webhook{}
		return true, 200, "", nil
	}
	pu, err := url.Parse(u)
	if err != nil || !pu.IsAbs() || pu.Host == "" {
		return nil, 400, "Bad Request: bad webhook: invalid URL", nil
	}
	sec := p.Get("secret_token")
	if sec != "" && !secretRE.MatchString(sec) {
		return nil, 400, "Bad Request: secret token contains unallowed characters", nil
	}
	var allowed []string
	if a := p.Get("allowed_updates"); a != "" {
		if err := json.Unmarshal([]byte(a), &allowed); err != nil {
			return nil, 400, "Bad Request: can't parse allowed updates", nil
		}
	}
	s.webhook = Webhook{URL: u, Secret: sec, AllowedUpdates: allowed}
	s.kick()
	return true, 200, "", nil
}

var commandRE = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

func (s *Server) setMyCommands(p url.Values) (any, int, string, []Event) {
	var cmds []struct {
		Command     string `json:"command"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal([]byte(p.Get("commands")), &cmds); err != nil {
		return nil, 400, "Bad Request: can't parse commands JSON object", nil
	}
	if len(cmds) > 100 {
		return nil, 400, "Bad Request: too many commands", nil
	}
	for _, c := range cmds {
		if !commandRE.MatchString(c.Command) {
			return nil, 400, "Bad Request: BOT_COMMAND_INVALID", nil
		}
		if n := utf8.RuneCountInString(c.Description); n < 1 || n > 256 {
			return nil, 400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID", nil
		}
	}
	lang := p.Get("language_code")
	if lang != "" && !regexp.MustCompile(`^[a-z]{2}$`).MatchString(lang) {
		return nil, 400, "Bad Request: invalid language code specified", nil
	}
	s.commands[lang] = p.Get("commands")
	return true, 200, "", nil
}

func (s *Server) answerCallback(p url.Values) (any, int, string, []Event) {
	id := p.Get("callback_query_id")
	q := s.queries[id]
	if q == nil {
		return nil, 400, DescQueryOld, nil
	}
	if utf8.RuneCountInString(p.Get("text")) > 200 {
		return nil, 400, "Bad Request: MESSAGE_TOO_LONG", nil
	}
	delete(s.queries, id)
	return true, 200, "", []Event{{Method: "answerCallbackQuery", Chat: q.chat, Query: id, At: time.Now()}}
}

// checkText applies Telegram's rules to a message text and returns what
// the user sees.
func checkText(text, parseMode string) (string, string) {
	if !utf8.ValidString(text) {
		return "", "Bad Request: text must be encoded in UTF-8"
	}
	vis := text
	switch parseMode {
	case "":
	case "HTML":
		v, err := tghtml.Parse(text)
		if err != nil {
			return "", "Bad Request: " + err.Error()
		}
		vis = v
	default:
		return "", "Bad Request: unsupported parse_mode (the fake knows HTML only)"
	}
	if strings.TrimSpace(vis) == "" {
		return "", "Bad Request: message text is empty"
	}
	if tghtml.Len(vis) > 4096 {
		return "", "Bad Request: message is too long"
	}
	return vis, ""
}

// checkMarkup reads reply_markup: an inline keyboard whose buttons have a
// text and 1–64 bytes of callback_data (or a URL).
func checkMarkup(raw string) ([][]Button, string) {
	if raw == "" {
		return nil, ""
	}
	var mk struct {
		InlineKeyboard [][]struct {
			Text         string  `json:"text"`
			CallbackData *string `json:"callback_data"`
			URL          *string `json:"url"`
		} `json:"inline_keyboard"`
	}
	if err := json.Unmarshal([]byte(raw), &mk); err != nil {
		return nil, "Bad Request: can't parse reply keyboard markup JSON object"
	}
	if mk.InlineKeyboard == nil {
		return nil, "Bad Request: the fake knows inline keyboards only"
	}
	var out [][]Button
	n := 0
	for _, row := range mk.InlineKeyboard {
		var r []Button
		for _, b := range row {
			n++
			if strings.TrimSpace(b.Text) == "" {
				return nil, "Bad Request: BUTTON_TEXT_EMPTY"
			}
			switch {
			case b.CallbackData != nil:
				if l := len(*b.CallbackData); l < 1 || l > 64 || !utf8.ValidString(*b.CallbackData) {
					return nil, "Bad Request: BUTTON_DATA_INVALID"
				}
				r = append(r, Button{Text: b.Text, Data: *b.CallbackData})
			case b.URL != nil:
				r = append(r, Button{Text: b.Text, URL: *b.URL})
			default:
				return nil, "Bad Request: can't find field \"callback_data\" or \"url\" in the button"
			}
		}
		if len(r) > 0 {
			out = append(out, r)
		}
	}
	if n > 100 {
		return nil, "Bad Request: reply markup is too long"
	}
	if len(out) == 0 {
		return nil, ""
	}
	return out, ""
}

func (s *Server) sendMessage(p url.Values, pre checked) (any, int, string, []Event) {
	chatID, err := strconv.ParseInt(p.Get("chat_id"), 10, 64)
	c := s.chats[chatID]
	if err != nil || c == nil {
		return nil, 400, "Bad Request: chat not found", nil
	}
	if s.blocked[chatID] {
		return nil, 403, DescBlocked, nil
	}
	if pre.textBad != "" {
		return nil, 400, pre.textBad, nil
	}
	if pre.kbBad != "" {
		return nil, 400, pre.kbBad, nil
	}
	vis, kb := pre.vis, pre.kb
	m := &Message{Chat: chatID, FromBot: true, Text: vis, Raw: p.Get("text"), Parse: p.Get("parse_mode"), Keyboard: kb, Kind: "text"}
	if t := p.Get("message_thread_id"); t != "" {
		m.Thread, _ = strconv.Atoi(t)
		if !c.info.IsForum {
			return nil, 400, "Bad Request: message thread not found", nil
		}
	}
	if rt := p.Get("reply_to_message_id"); rt != "" {
		id, _ := strconv.Atoi(rt)
		if c.byID[id] == nil {
			if p.Get("allow_sending_without_reply") != "true" {
				return nil, 400, "Bad Request: message to be replied not found", nil
			}
		} else {
			m.ReplyTo = id
		}
	}
	c.nextID++
	m.ID = c.nextID
	s.keep(c, m)
	l := s.lazy(c, m)
	return l, 200, "", []Event{{Method: "sendMessage", Chat: chatID, Message: l.m, At: time.Now()}}
}

func (s *Server) editMessage(p url.Values, text bool, pre checked) (any, int, string, []Event) {
	method := "editMessageReplyMarkup"
	if text {
		method = "editMessageText"
	}
	if p.Get("inline_message_id") != "" {
		return nil, 400, "Bad Request: the fake does not know inline messages", nil
	}
	chatID, err := strconv.ParseInt(p.Get("chat_id"), 10, 64)
	c := s.chats[chatID]
	if err != nil || c == nil {
		return nil, 400, "Bad Request: chat not found", nil
	}
	if s.blocked[chatID] {
		return nil, 403, DescBlocked, nil
	}
	id, _ := strconv.Atoi(p.Get("message_id"))
	m := c.byID[id]
	if m == nil {
		return nil, 400, "Bad Request: message to edit not found", nil
	}
	if !m.FromBot {
		return nil, 400, "Bad Request: message can't be edited", nil
	}
	if pre.kbBad != "" {
		return nil, 400, pre.kbBad, nil
	}
	kb := pre.kb
	vis, raw, parse := m.Text, m.Raw, m.Parse
	if text {
		if pre.textBad != "" {
			return nil, 400, pre.textBad, nil
		}
		vis, raw, parse = pre.vis, p.Get("text"), p.Get("parse_mode")
	}
	if vis == m.Text && raw == m.Raw && parse == m.Parse && sameKeyboard(kb, m.Keyboard) {
		return nil, 400, DescNotModified, nil
	}
	m.Text, m.Raw, m.Parse, m.Keyboard = vis, raw, parse, kb
	m.Edits++
	l := s.lazy(c, m)
	return l, 200, "", []Event{{Method: method, Chat: chatID, Message: l.m, At: time.Now()}}
}

func sameKeyboard(a, b [][]Button) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

// getUpdates confirms everything below offset, then returns what is
// queued, waiting up to timeout seconds for something to come. A newer
// getUpdates ends an older one with 409, as Telegram does.
func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, p url.Values) {
	offset, _ := strconv.Atoi(p.Get("offset"))
	limit, _ := strconv.Atoi(p.Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	timeout, _ := strconv.Atoi(p.Get("timeout"))
	s.mu.Lock()
	if s.webhook.URL != "" {
		s.recordLocked("getUpdates", p, 409, DescConflictWH, false)
		s.touch()
		s.mu.Unlock()
		writeErr(w, 409, DescConflictWH, 0)
		return
	}
	if offset > 0 {
		i := 0
		for i < len(s.queue) && s.queue[i].id < offset {
			i++
		}
		s.queue = s.queue[i:]
		s.offset = offset
	}
	if s.poller != nil {
		close(s.poller)
	}
	me := make(chan struct{})
	s.poller = me
	s.recordLocked("getUpdates", p, 200, "", false)
	s.touch()
	deadline := time.NewTimer(time.Duration(timeout) * time.Second)
	defer deadline.Stop()
	for {
		if len(s.queue) > 0 || timeout <= 0 {
			n := min(limit, len(s.queue))
			var buf bytes.Buffer
			buf.WriteString(`{"ok":true,"result":[`)
			for i, q := range s.queue[:n] {
				if i > 0 {
					buf.WriteByte(',')
				}
				buf.Write(q.body)
			}
			buf.WriteString("]}")
			if s.poller == me {
				s.poller = nil
			}
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Write(buf.Bytes())
			return
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-me:
			if r.Context().Err() != nil {
				return // its client is gone already
			}
			s.record("getUpdates", p, 409, DescConflictGU, false)
			writeErr(w, 409, DescConflictGU, 0)
			return
		case <-deadline.C:
			timeout = 0
		case <-r.Context().Done():
			s.mu.Lock()
			if s.poller == me {
				s.poller = nil
			}
			s.mu.Unlock()
			return
		case <-s.done:
			return
		}
		s.mu.Lock()
	}
}

// ---- JSON ----

func writeOK(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

// writeMessage answers with a message, its message_id first, as Telegram
// writes it.
func writeMessage(w http.ResponseWriter, m map[string]any) {
	id := m["message_id"]
	delete(m, "message_id")
	rest, _ := json.Marshal(m)
	head, _ := json.Marshal(id)
	out := make([]byte, 0, len(rest)+48)
	out = append(out, `{"ok":true,"result":{"message_id":`...)
	out = append(out, head...)
	if len(rest) > 2 {
		out = append(out, ',')
		out = append(out, rest[1:]...)
	} else {
		out = append(out, '}')
	}
	out = append(out, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func writeErr(w http.ResponseWriter, code int, desc string, retryAfter int) {
	body := map[string]any{"ok": false, "error_code": code, "description": desc}
	if retryAfter > 0 {
		body["parameters"] = map[string]any{"retry_after": retryAfter}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

func botJSON() map[string]any {
	return map[string]any{"id": BotID, "is_bot": true, "first_name": "Support", "username": BotUsername,
		"can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false}
}

func userJSON(u User) map[string]any {
	m := map[string]any{"id": u.ID, "is_bot": u.IsBot, "first_name": u.FirstName}
	if u.FirstName == "" {
		m["first_name"] = "User" + strconv.FormatInt(u.ID, 10)
	}
	if u.Username != "" {
		m["username"] = u.Username
	}
	if u.LanguageCode != "" {
		m["language_code"] = u.LanguageCode
	}
	return m
}

func chatJSON(c Chat, from User) map[string]any {
	if c.Type == "" {
		c.Type = "private"
	}
	m := map[string]any{"id": c.ID, "type": c.Type}
	if c.Type == "private" {
		m["first_name"] = userJSON(from)["first_name"]
	} else {
		m["title"] = c.Title
	}
	if c.IsForum {
		m["is_forum"] = true
	}
	return m
}

// messageJSON is a message as the API returns it; withReply includes the
// message it replies to (one level, as Telegram does).
func (s *Server) messageJSON(c *chatState, m *Message, withReply bool) map[string]any {
	out := messageJSONOf(c.info, m)
	if withReply && m.ReplyTo != 0 {
		if r := c.byID[m.ReplyTo]; r != nil {
			out["reply_to_message"] = messageJSONOf(c.info, r)
		}
	}
	return out
}

func messageJSONOf(chat Chat, m *Message) map[string]any {
	out := map[string]any{"message_id": m.ID, "date": time.Now().Unix(), "chat": chatJSON(chat, m.From)}
	if m.FromBot {
		out["from"] = botJSON()
	} else {
		out["from"] = userJSON(m.From)
	}
	if m.Text != "" {
		out["text"] = m.Text
	}
	if m.Thread != 0 {
		out["message_thread_id"] = m.Thread
		out["is_topic_message"] = true
	}
	if m.Keyboard != nil {
		out["reply_markup"] = map[string]any{"inline_keyboard": m.Keyboard}
	}
	if m.Edits > 0 {
		out["edit_date"] = time.Now().Unix()
	}
	return out
}

// readParams reads the parameters of a call: query string, form
// (tgbotapi's way), multipart or JSON.
func readParams(r *http.Request) (url.Values, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		vals := r.URL.Query()
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return vals, nil
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, errors.New("can't parse JSON body")
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				vals.Set(k, v)
			case json.Number:
				vals.Set(k, v.String())
			case bool:
				vals.Set(k, strconv.FormatBool(v))
			case nil:
			default:
				b, _ := json.Marshal(v)
				vals.Set(k, string(b))
			}
		}
		return vals, nil
	case "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			return nil, err
		}
		return r.Form, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.Form, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

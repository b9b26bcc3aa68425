// Package slacktest is a fake Slack for tests and load measurements: the
// Web API methods the bot uses (auth.test, chat.postMessage, chat.update,
// users.info, conversations.open, apps.connections.open), response_url
// endpoints, and Socket Mode (a websocket on the same server). It checks
// what Slack checks (text present, Block Kit limits, known messages for
// chat.update), records every call, can inject 429s, 5xx, error codes and
// dropped connections, and builds the payloads Slack would send, plus a
// client that signs them for HTTP mode.
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Defaults of a new server.
const (
	BotToken      = "xoxb-0000-test"
	AppToken      = "xapp-1-test"
	SigningSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	Team          = "T0TEST"
	BotUser       = "U0BOT"
	BotID         = "B0BOT"
	AppID         = "A0APP"
)

// Options configure a Server. Zero values take the defaults above.
type Options struct {
	BotToken, AppToken string
	Team, BotUser      string
	// PingInterval is how often the websocket pings the client; default 2 s.
	PingInterval time.Duration
	// AckTimeout, when set, redelivers a Socket Mode envelope not
	// acknowledged within it (with a new envelope id), as Slack does.
	AckTimeout time.Duration
	// NoCallLog keeps no call log (for long load runs); messages are kept.
	NoCallLog bool
	// Latency delays every Web API answer.
	Latency time.Duration
	// KeepPerChannel, when set, keeps only the newest messages of each
	// channel (for long load runs); older ones are forgotten.
	KeepPerChannel int
	// NoResponseURLs: presses carry a response_url that is not kept (for
	// load runs that never use it).
	NoResponseURLs bool
}

// Server is a fake Slack. Its zero value is not usable: call NewServer.
type Server struct {
	opts Options
	srv  *httptest.Server
	// URL is the server's base URL; APIURL is what SLACK_API_URL should be.
	URL, APIURL string

	mu       sync.Mutex
	calls    []Call
	counts   map[string]int
	msgs     map[string]*Message   // channel + "/" + ts
	byChan   map[string][]*Message // oldest first
	seq      int64
	locales  map[string]string
	tzs      map[string]string
	chanErr  map[string]string
	inject   map[string][]Failure
	respURLs map[string]*respURL
	hooks    []func(Post)
	changed  chan struct{}

	sock sockets
	ids  atomic.Int64
}

// Call is one recorded Web API call.
type Call struct {
	Method string
	Form   url.Values // form-encoded calls; the token is removed
	JSON   []byte     // JSON calls (response_url)
	Status int
	Error  string // Slack's error code when ok was false
	At     time.Time
}

// Message is a message as the fake holds it, after any updates.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
	// Ephemeral messages were posted through a response_url; presses on
	// them come with ResponseURL.
	Ephemeral   bool
	ResponseURL string
	Edits       int
	Seq         int64
}

// Post is one accepted change of a message, for hooks.
type Post struct {
	Method  string // chat.postMessage, chat.update, response_url
	Message Message
	At      time.Time
}

// Failure is an injected failure of a method's next calls.
type Failure struct {
	Status     int           // HTTP status, e.g. 429 or 503 (0: 200)
	RetryAfter time.Duration // with 429: the Retry-After header (whole seconds)
	Code       string        // an ok:false error code
	Drop       bool          // close the connection without an answer
}

type respURL struct {
	channel string
	msg     *Message // the ephemeral message it answers, if any
	uses    int
}

// NewServer starts a fake Slack. Close it when done.
func NewServer(opts Options) *Server {
	if opts.BotToken == "" {
		opts.BotToken = BotToken
	}
	if opts.AppToken == "" {
		opts.AppToken = AppToken
	}
	if opts.Team == "" {
		opts.Team = Team
	}
	if opts.BotUser == "" {
		opts.BotUser = BotUser
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 2 * time.Second
	}
	s := &Server{
		opts:     opts,
		counts:   map[string]int{},
		msgs:     map[string]*Message{},
		byChan:   map[string][]*Message{},
		locales:  map[string]string{},
		tzs:      map[string]string{},
		chanErr:  map[string]string{},
		inject:   map[string][]Failure{},
		respURLs: map[string]*respURL{},
		changed:  make(chan struct{}),
	}
	s.sock.init()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.api)
	mux.HandleFunc("/respond/{id}", s.respond)
	mux.HandleFunc("/ws", s.websocket)
	// Set the URLs before serving: handlers read them.
	s.srv = httptest.NewUnstartedServer(mux)
	s.URL = "http://" + s.srv.Listener.Addr().String()
	s.APIURL = s.URL + "/api/"
	s.srv.Start()
	return s
}

// Close stops the server and its sockets.
func (s *Server) Close() {
	s.sock.closeAll()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Options returns the server's options, defaults filled in.
func (s *Server) Options() Options { return s.opts }

// SetLocale sets a user's locale for users.info (default "en-US").
func (s *Server) SetLocale(user, locale string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.locales[user] = locale
}

// SetTZ sets a user's time zone for users.info (default Europe/Riga for
// lv locales, America/New_York otherwise).
func (s *Server) SetTZ(user, tz string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tzs[user] = tz
}

// FailChannel makes every post into channel fail with code
// ("channel_not_found", "not_in_channel", …); "" heals it.
func (s *Server) FailChannel(channel, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == "" {
		delete(s.chanErr, channel)
		return
	}
	s.chanErr[channel] = code
}

// Inject makes the next n calls of method fail with f.
func (s *Server) Inject(method string, n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.inject[method] = append(s.inject[method], f)
	}
}

// RateLimit makes the next n calls of method answer 429 with Retry-After.
func (s *Server) RateLimit(method string, n int, retryAfter time.Duration) {
	s.Inject(method, n, Failure{Status: http.StatusTooManyRequests, RetryAfter: retryAfter})
}

// OnPost calls f after every accepted post or update (outside the lock).
func (s *Server) OnPost(f func(Post)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, f)
}

// DMChannel is the DM channel conversations.open returns for a user.
func DMChannel(user string) string { return "D" + strings.TrimPrefix(user, "U") }

// Calls lists the recorded calls of method ("" for all).
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Count is how many calls of method were made, recorded or not.
func (s *Server) Count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[method]
}

// Messages lists the messages in channel, oldest first; with thread set,
// only that thread's replies.
func (s *Server) Messages(channel, thread string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.byChan[channel] {
		if thread == "" || m.ThreadTS == thread {
			out = append(out, *m)
		}
	}
	return out
}

// AllMessages lists every message, oldest first.
func (s *Server) AllMessages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, ms := range s.byChan {
		for _, m := range ms {
			out = append(out, *m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// Changed returns a channel closed at the next change (a call, a message,
// an ack), for waiting without polling.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// notify wakes waiters; s.mu is held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

type apiResult struct {
	status     int
	retryAfter time.Duration
	body       map[string]any
	drop       bool
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	if s.opts.Latency > 0 {
		time.Sleep(s.opts.Latency)
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	var form url.Values
	switch ct := r.Header.Get("Content-Type"); {
	case strings.Contains(ct, "application/x-www-form-urlencoded"):
		form, _ = url.ParseQuery(string(body))
	case strings.Contains(ct, "application/json") && len(body) > 0:
		// Slack takes JSON bodies too (with a Bearer token): strings as
		// they are, anything else (blocks, booleans) as its JSON text.
		form = url.Values{}
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			writeResult(w, fail("invalid_json"))
			return
		}
		for k, v := range m {
			var str string
			if json.Unmarshal(v, &str) == nil {
				form.Set(k, str)
			} else if string(v) != "null" {
				form.Set(k, string(v))
			}
		}
	default:
		form = url.Values{}
	}
	for k, v := range r.URL.Query() {
		form[k] = v
	}
	token := form.Get("token")
	if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
		token = strings.TrimPrefix(a, "Bearer ")
	}
	form.Del("token")

	var hooks []func(Post)
	var post *Post
	s.mu.Lock()
	s.counts[method]++
	res := s.failure(method)
	if res == nil {
		res = s.handle(method, token, form, &post)
	}
	if !s.opts.NoCallLog {
		c := Call{Method: method, Form: form, Status: res.status, At: time.Now()}
		if ok, _ := res.body["ok"].(bool); !ok && res.body != nil {
			c.Error, _ = res.body["error"].(string)
		}
		s.calls = append(s.calls, c)
	}
	if post != nil {
		hooks = s.hooks
	}
	s.notify()
	s.mu.Unlock()
	for _, h := range hooks {
		h(*post)
	}
	writeResult(w, res)
}

func writeResult(w http.ResponseWriter, res *apiResult) {
	if res.drop {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if res.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((res.retryAfter+time.Second-1)/time.Second)))
	}
	if res.body == nil {
		w.WriteHeader(res.status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(res.status)
	w.Write(encodeAnswer(res.body))
}

// encodeAnswer writes "ok" first, then "channel" and "ts", then the rest
// (the echoed message), as Slack does.
func encodeAnswer(body map[string]any) []byte {
	okv, has := body["ok"]
	if !has {
		b, _ := json.Marshal(body)
		return b
	}
	rest := make(map[string]any, len(body))
	for k, v := range body {
		if k != "ok" && k != "channel" && k != "ts" {
			rest[k] = v
		}
	}
	b, _ := json.Marshal(rest)
	head := []byte(`{"ok":false`)
	if okv == true {
		head = []byte(`{"ok":true`)
	}
	for _, k := range []string{"channel", "ts"} {
		if v, ok := body[k]; ok {
			kv, _ := json.Marshal(v)
			head = append(append(append(head, `,"`...), k...), `":`...)
			head = append(head, kv...)
		}
	}
	if len(b) <= 2 {
		return append(head, '}')
	}
	return append(append(head, ','), b[1:]...)
}

// failure pops an injected failure; s.mu is held.
func (s *Server) failure(method string) *apiResult {
	q := s.inject[method]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	s.inject[method] = q[1:]
	switch {
	case f.Drop:
		return &apiResult{drop: true}
	case f.Code != "":
		return &apiResult{status: 200, body: map[string]any{"ok": false, "error": f.Code}}
	case f.Status == http.StatusTooManyRequests:
		return &apiResult{status: f.Status, retryAfter: max(f.RetryAfter, time.Second), body: map[string]any{"ok": false, "error": "ratelimited"}}
	}
	return &apiResult{status: f.Status}
}

func ok(body map[string]any) *apiResult {
	if body == nil {
		body = map[string]any{}
	}
	body["ok"] = true
	return &apiResult{status: 200, body: body}
}

func fail(code string, msgs ...string) *apiResult {
	b := map[string]any{"ok": false, "error": code}
	if len(msgs) > 0 {
		b["response_metadata"] = map[string]any{"messages": msgs}
	}
	return &apiResult{status: 200, body: b}
}

// handle answers one method; s.mu is held.
func (s *Server) handle(method, token string, form url.Values, post **Post) *apiResult {
	if method == "apps.connections.open" {
		if token != s.opts.AppToken {
			return fail("invalid_auth")
		}
		return ok(map[string]any{"url": strings.Replace(s.URL, "http://", "ws://", 1) + "/ws?n=" + strconv.FormatInt(s.ids.Add(1), 10)})
	}
	if token != s.opts.BotToken {
		if token == "" {
			return fail("not_authed")
		}
		return fail("invalid_auth")
	}
	switch method {
	case "auth.test":
		return ok(map[string]any{"url": "https://fake.slack.com/", "team": "Fake", "user": "supportbot",
			"team_id": s.opts.Team, "user_id": s.opts.BotUser, "bot_id": BotID})
	case "users.info":
		u := form.Get("user")
		if u == "" {
			return fail("user_not_found")
		}
		loc := s.locales[u]
		if loc == "" {
			loc = "en-US"
		}
		tz := s.tzs[u]
		if tz == "" {
			tz = "America/New_York"
			if strings.HasPrefix(loc, "lv") {
				tz = "Europe/Riga"
			}
		}
		user := map[string]any{"id": u, "team_id": s.opts.Team, "name": strings.ToLower(u), "tz": tz}
		if form.Get("include_locale") == "true" {
			user["locale"] = loc
		}
		return ok(map[string]any{"user": user})
	case "conversations.open":
		users := form.Get("users")
		if users == "" || strings.Contains(users, ",") {
			return fail("invalid_arguments")
		}
		return ok(map[string]any{"channel": map[string]any{"id": DMChannel(users)}})
	case "chat.postMessage":
		ch := form.Get("channel")
		if ch == "" {
			return fail("channel_not_found")
		}
		if code := s.chanErr[ch]; code != "" {
			return fail(code)
		}
		text, blocks := form.Get("text"), form.Get("blocks")
		if code, why := Validate(text, blocks); code != "" {
			return fail(code, why)
		}
		m := s.add(Message{Channel: ch, ThreadTS: form.Get("thread_ts"), Text: text, Blocks: rawBlocks(blocks)})
		*post = &Post{Method: method, Message: *m, At: time.Now()}
		return ok(map[string]any{"channel": ch, "ts": m.TS, "message": s.echo(m)})
	case "chat.update":
		ch, ts := form.Get("channel"), form.Get("ts")
		if code := s.chanErr[ch]; code != "" {
			return fail(code)
		}
		m := s.msgs[ch+"/"+ts]
		if m == nil {
			return fail("message_not_found")
		}
		text, blocks := form.Get("text"), form.Get("blocks")
		if code, why := Validate(text, blocks); code != "" {
			return fail(code, why)
		}
		m.Text, m.Blocks = text, rawBlocks(blocks)
		m.Edits++
		*post = &Post{Method: method, Message: *m, At: time.Now()}
		return ok(map[string]any{"channel": ch, "ts": ts, "text": text, "message": s.echo(m)})
	}
	return fail("unknown_method")
}

// echo is the message object Slack returns with a post or an update.
func (s *Server) echo(m *Message) map[string]any {
	e := map[string]any{"type": "message", "user": s.opts.BotUser, "bot_id": BotID, "app_id": AppID,
		"text": m.Text, "ts": m.TS, "team": s.opts.Team}
	if m.Blocks != nil {
		e["blocks"] = m.Blocks
	}
	if m.ThreadTS != "" {
		e["thread_ts"] = m.ThreadTS
	}
	return e
}

func rawBlocks(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// add stores a new message with the next ts; s.mu is held.
func (s *Server) add(m Message) *Message {
	s.seq++
	m.Seq = s.seq
	m.TS = fmt.Sprintf("%d.%06d", 1700000000+s.seq/1000000, s.seq%1000000)
	p := &m
	s.msgs[m.Channel+"/"+m.TS] = p
	ms := append(s.byChan[m.Channel], p)
	if k := s.opts.KeepPerChannel; k > 0 && len(ms) > k {
		for _, old := range ms[:len(ms)-k] {
			delete(s.msgs, old.Channel+"/"+old.TS)
		}
		ms = append([]*Message(nil), ms[len(ms)-k:]...)
	}
	s.byChan[m.Channel] = ms
	return p
}

// NewResponseURL makes a response_url for a command or an interaction in
// channel. msg, when set, is the ephemeral message it can replace.
func (s *Server) NewResponseURL(channel string, msg *Message) string {
	id := strconv.FormatInt(s.ids.Add(1), 10)
	if s.opts.NoResponseURLs {
		return s.URL + "/respond/" + id
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var held *Message
	if msg != nil {
		held = s.msgs[msg.Channel+"/"+msg.TS]
	}
	s.respURLs[id] = &respURL{channel: channel, msg: held}
	return s.URL + "/respond/" + id
}

// respond serves response_url posts: up to 5 uses, replace_original
// replaces the ephemeral message it belongs to, otherwise a new ephemeral
// message appears.
func (s *Server) respond(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	var msg struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
		DeleteOriginal  bool            `json:"delete_original"`
		ThreadTS        string          `json:"thread_ts"`
	}
	var hooks []func(Post)
	var post *Post
	s.mu.Lock()
	s.counts["response_url"]++
	res := s.failure("response_url")
	if res == nil {
		res = func() *apiResult {
			ru := s.respURLs[r.PathValue("id")]
			if ru == nil {
				return &apiResult{status: http.StatusNotFound, body: map[string]any{"ok": false, "error": "expired_url"}}
			}
			if ru.uses >= 5 {
				return &apiResult{status: http.StatusNotFound, body: map[string]any{"ok": false, "error": "used_url"}}
			}
			if err := json.Unmarshal(body, &msg); err != nil {
				return fail("invalid_json")
			}
			blocks := ""
			if len(msg.Blocks) > 0 && string(msg.Blocks) != "null" {
				blocks = string(msg.Blocks)
			}
			if code, why := Validate(msg.Text, blocks); code != "" {
				return fail(code, why)
			}
			ru.uses++
			if msg.ReplaceOriginal {
				if ru.msg == nil {
					return fail("message_not_found")
				}
				ru.msg.Text, ru.msg.Blocks = msg.Text, rawBlocks(blocks)
				ru.msg.Edits++
				post = &Post{Method: "response_url", Message: *ru.msg, At: time.Now()}
				return ok(nil)
			}
			m := s.add(Message{Channel: ru.channel, Text: msg.Text, Blocks: rawBlocks(blocks), Ephemeral: msg.ResponseType != "in_channel"})
			post = &Post{Method: "response_url", Message: *m, At: time.Now()}
			return ok(nil)
		}()
	}
	if !s.opts.NoCallLog {
		c := Call{Method: "response_url", JSON: body, Status: res.status, At: time.Now()}
		if res.body != nil {
			if okv, _ := res.body["ok"].(bool); !okv {
				c.Error, _ = res.body["error"].(string)
			}
		}
		s.calls = append(s.calls, c)
	}
	if post != nil {
		hooks = s.hooks
	}
	s.notify()
	s.mu.Unlock()
	for _, h := range hooks {
		h(*post)
	}
	writeResult(w, res)
}

// Validate checks a message as Slack does: text present and not too long,
// blocks a JSON array within Block Kit's limits. It returns Slack's error
// code and a reason, or "" when the message is fine.
func Validate(text, blocks string) (code, reason string) {
	if strings.TrimSpace(text) == "" {
		return "no_text", "text is empty"
	}
	if utf8.RuneCountInString(text) > 40000 {
		return "msg_too_long", "text over 40000 characters"
	}
	if blocks == "" {
		return "", ""
	}
	var bs []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
		return "invalid_blocks_format", "blocks are not a JSON array of objects"
	}
	if len(bs) > 50 {
		return "invalid_blocks", fmt.Sprintf("%d blocks, at most 50", len(bs))
	}
	blockIDs, actionIDs := map[string]bool{}, map[string]bool{}
	for i, b := range bs {
		var typ, blockID string
		json.Unmarshal(b["type"], &typ)
		json.Unmarshal(b["block_id"], &blockID)
		if blockID != "" {
			if len(blockID) > 255 {
				return "invalid_blocks", fmt.Sprintf("block %d: block_id over 255 characters", i)
			}
			if blockIDs[blockID] {
				return "invalid_blocks", fmt.Sprintf("block %d: block_id %q is not unique", i, blockID)
			}
			blockIDs[blockID] = true
		}
		switch typ {
		case "section":
			var t textObj
			if b["text"] == nil {
				return "invalid_blocks", fmt.Sprintf("block %d: section without text", i)
			}
			if err := json.Unmarshal(b["text"], &t); err != nil {
				return "invalid_blocks", fmt.Sprintf("block %d: unreadable text", i)
			}
			if why := t.check(3000); why != "" {
				return "invalid_blocks", fmt.Sprintf("block %d: section %s", i, why)
			}
		case "actions":
			var els []map[string]json.RawMessage
			if err := json.Unmarshal(b["elements"], &els); err != nil || len(els) == 0 || len(els) > 25 {
				return "invalid_blocks", fmt.Sprintf("block %d: actions need 1 to 25 elements", i)
			}
			for j, e := range els {
				var et, actionID, value string
				json.Unmarshal(e["type"], &et)
				json.Unmarshal(e["action_id"], &actionID)
				json.Unmarshal(e["value"], &value)
				if et != "button" {
					return "invalid_blocks", fmt.Sprintf("block %d element %d: not a button", i, j)
				}
				var t textObj
				if err := json.Unmarshal(e["text"], &t); err != nil || t.Type != "plain_text" {
					return "invalid_blocks", fmt.Sprintf("block %d element %d: button text must be plain_text", i, j)
				}
				if why := t.check(75); why != "" {
					return "invalid_blocks", fmt.Sprintf("block %d element %d: button text %s", i, j, why)
				}
				if len(value) > 2000 {
					return "invalid_blocks", fmt.Sprintf("block %d element %d: value over 2000 characters", i, j)
				}
				if actionID != "" {
					if len(actionID) > 255 {
						return "invalid_blocks", fmt.Sprintf("block %d element %d: action_id over 255 characters", i, j)
					}
					if actionIDs[actionID] {
						return "invalid_blocks", fmt.Sprintf("block %d element %d: action_id %q is not unique", i, j, actionID)
					}
					actionIDs[actionID] = true
				}
			}
		case "context":
			var els []textObj
			if err := json.Unmarshal(b["elements"], &els); err != nil || len(els) == 0 || len(els) > 10 {
				return "invalid_blocks", fmt.Sprintf("block %d: context needs 1 to 10 elements", i)
			}
			for j, t := range els {
				if why := t.check(3000); why != "" {
					return "invalid_blocks", fmt.Sprintf("block %d element %d: %s", i, j, why)
				}
			}
		case "divider":
		default:
			return "invalid_blocks", fmt.Sprintf("block %d: type %q not supported here", i, typ)
		}
	}
	return "", ""
}

type textObj struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (t textObj) check(limit int) string {
	switch {
	case t.Type != "mrkdwn" && t.Type != "plain_text":
		return fmt.Sprintf("text type %q is not mrkdwn or plain_text", t.Type)
	case t.Text == "":
		return "text is empty"
	case utf8.RuneCountInString(t.Text) > limit:
		return fmt.Sprintf("text over %d characters", limit)
	}
	return ""
}

// Buttons lists a message's buttons: label, value, action_id, block_id.
func (m Message) Buttons() []Button {
	var bs []struct {
		Type     string `json:"type"`
		BlockID  string `json:"block_id"`
		Elements []struct {
			Type     string  `json:"type"`
			ActionID string  `json:"action_id"`
			Value    string  `json:"value"`
			Text     textObj `json:"text"`
		} `json:"elements"`
	}
	json.Unmarshal(m.Blocks, &bs)
	var out []Button
	for _, b := range bs {
		if b.Type != "actions" {
			continue
		}
		for _, e := range b.Elements {
			out = append(out, Button{Label: e.Text.Text, Value: e.Value, ActionID: e.ActionID, BlockID: b.BlockID})
		}
	}
	return out
}

// Context lists the texts of a message's context blocks.
func (m Message) Context() []string {
	var bs []struct {
		Type     string    `json:"type"`
		Elements []textObj `json:"elements"`
	}
	json.Unmarshal(m.Blocks, &bs)
	var out []string
	for _, b := range bs {
		if b.Type == "context" {
			for _, e := range b.Elements {
				out = append(out, e.Text)
			}
		}
	}
	return out
}

// Button is one button of a message.
type Button struct {
	Label, Value, ActionID, BlockID string
}

// sortedKeys is for stable output in tests.
func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Counts returns the number of calls per method.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for _, k := range sortedKeys(s.counts) {
		out[k] = s.counts[k]
	}
	return out
}

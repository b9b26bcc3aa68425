package main

// What every mode shares: latency statistics, a run's result and its
// report, /proc readers for the bot's CPU time and memory, and building and
// running the bot binary.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/flows"
)

// Latencies collects durations; safe for concurrent use.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Len is the number of durations recorded.
func (l *Latencies) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// Percentile returns the p-th percentile (0–100), nearest rank.
func (l *Latencies) Percentile(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l.d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Result is what one measured run produced.
type Result struct {
	Name     string // "bot", "plain client"
	Chats    int
	Duration time.Duration // the measured window
	Answered atomic.Int64  // user actions answered with every expected reply
	Lost     atomic.Int64  // expected replies that never came
	Dup      atomic.Int64  // replies beyond the expected ones
	TimedOut atomic.Int64  // actions given up on
	Lat      Latencies     // user action to first reply
	// The bot process, when there is one.
	PeakRSS int64         // bytes
	CPU     time.Duration // user+system during the window
	// SelfCPU is this process's CPU time during the window: the driver,
	// the fake platform and, for a baseline, the plain client.
	SelfCPU time.Duration
	// Stages is where the bot's time went, from its /metrics.
	Stages []string
	Notes  []string
}

// Rate is actions answered per second.
func (r *Result) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Answered.Load()) / r.Duration.Seconds()
}

// Print writes the result as a few aligned lines.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "%s: %d chats, %v\n", r.Name, r.Chats, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  answered   %d updates, %.0f updates/s\n", r.Answered.Load(), r.Rate())
	fmt.Fprintf(w, "  latency    p50 %v  p95 %v  p99 %v  (%d samples, user action to first reply)\n",
		ms(r.Lat.Percentile(50)), ms(r.Lat.Percentile(95)), ms(r.Lat.Percentile(99)), r.Lat.Len())
	fmt.Fprintf(w, "  replies    lost %d, duplicated %d, actions timed out %d\n", r.Lost.Load(), r.Dup.Load(), r.TimedOut.Load())
	if r.PeakRSS > 0 {
		fmt.Fprintf(w, "  bot        peak RSS %.1f MB, CPU %v in all, %v per answered update\n",
			float64(r.PeakRSS)/(1<<20), r.CPU.Round(time.Millisecond), perUpdate(r.CPU, r.Answered.Load()))
	}
	if r.SelfCPU > 0 {
		fmt.Fprintf(w, "  load tool  CPU %v in all, %v per answered update (driver and fake platform)\n",
			r.SelfCPU.Round(time.Millisecond), perUpdate(r.SelfCPU, r.Answered.Load()))
	}
	for _, n := range r.Stages {
		fmt.Fprintf(w, "  stage      %s\n", n)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note       %s\n", n)
	}
}

// Compare prints the bot against the plain client measured in the same run.
func Compare(w io.Writer, bot, base *Result) {
	fmt.Fprintf(w, "bot / plain client: throughput %.0f%%, p99 latency %.2f×\n",
		100*bot.Rate()/max(base.Rate(), 1e-9),
		float64(bot.Lat.Percentile(99))/max(float64(base.Lat.Percentile(99)), 1))
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
}

func perUpdate(d time.Duration, n int64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d)/float64(n)/float64(time.Microsecond), 'f', 0, 64) + "µs"
}

// clockTick is USER_HZ: /proc counts CPU time in these (100 on Linux).
const clockTick = 100

// ProcStat is a process's CPU time so far and its resident memory now.
type ProcStat struct {
	CPU time.Duration // utime + stime
	RSS int64         // bytes
}

// ReadProcStat reads /proc/PID/stat.
func ReadProcStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcStat{}, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ProcStat{}, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return ProcStat{}, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	rss, _ := strconv.ParseInt(f[21], 10, 64)   // field 24, pages
	return ProcStat{
		CPU: time.Duration(utime+stime) * time.Second / clockTick,
		RSS: rss * int64(os.Getpagesize()),
	}, nil
}

// ReadPeakRSS reads the process's high-water resident memory (VmHWM) from
// /proc/PID/status.
func ReadPeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// FreeAddr returns a loopback address with a free port.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// BuildBot builds ./cmd/supportbot of the module we run in into dir.
func BuildBot(dir string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module (run inside the repository, or pass -bin): %w", err)
	}
	root := strings.TrimSpace(string(out))
	bin := filepath.Join(dir, "supportbot")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/supportbot")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/supportbot: %v\n%s", err, b)
	}
	return bin, nil
}

// Child is the bot running as a child process.
type Child struct {
	Cmd     *exec.Cmd
	Addr    string // its ADDR: /readyz and webhooks
	LogPath string // its stderr
	done    chan error
	exited  atomic.Bool
	peak    atomic.Int64
	stop    chan struct{}
}

// StartBot starts bin with env plus ADDR on a free port; its stderr goes
// to logPath. It samples the resident memory until Stop.
func StartBot(bin string, env []string, logPath string) (*Child, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	return StartBotAt(bin, addr, env, logPath)
}

// StartBotAt is StartBot on a given ADDR (when the platform must know the
// address first, say for a webhook URL).
func StartBotAt(bin, addr string, env []string, logPath string) (*Child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "ADDR=" + addr}, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	c := &Child{Cmd: cmd, Addr: addr, LogPath: logPath, done: make(chan error, 1), stop: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		c.exited.Store(true)
		logf.Close()
		c.done <- err
	}()
	go c.sample()
	return c, nil
}

func (c *Child) sample() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if st, err := ReadProcStat(c.Cmd.Process.Pid); err == nil && st.RSS > c.peak.Load() {
			c.peak.Store(st.RSS)
		}
		select {
		case <-t.C:
		case <-c.stop:
			return
		}
	}
}

// WaitReady waits until GET /readyz answers 200.
func (c *Child) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	url := "http://" + c.Addr + "/readyz"
	for {
		if c.exited.Load() {
			return fmt.Errorf("the bot exited at start:\n%s", c.LogTail(2000))
		}
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the bot was not ready within %v:\n%s", timeout, c.LogTail(2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SelfCPU is this process's CPU time so far.
func SelfCPU() time.Duration {
	st, _ := ReadProcStat(os.Getpid())
	return st.CPU
}

// Stat reads the child's CPU time and memory now.
func (c *Child) Stat() (ProcStat, error) { return ReadProcStat(c.Cmd.Process.Pid) }

// PeakRSS is the highest resident memory seen: VmHWM while the process
// lives, else the highest sample.
func (c *Child) PeakRSS() int64 {
	if hwm, err := ReadPeakRSS(c.Cmd.Process.Pid); err == nil && hwm > c.peak.Load() {
		return hwm
	}
	return c.peak.Load()
}

// Stop sends SIGTERM and waits up to timeout, then kills.
func (c *Child) Stop(timeout time.Duration) error {
	defer close(c.stop)
	if c.exited.Load() {
		return <-c.done
	}
	_ = c.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		return err
	case <-time.After(timeout):
		_ = c.Cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("no exit within %v of SIGTERM; killed", timeout)
	}
}

// LogTail returns the last n bytes of the child's log.
func (c *Child) LogTail(n int) string {
	b, _ := os.ReadFile(c.LogPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

// Runner drives chats until a deadline: each chat's loop runs in its own
// goroutine; Run returns when all have finished their last action.
type Runner struct {
	Chats int
	// Loop runs chat i until ctx ends (no new actions after that).
	Loop func(ctx context.Context, i int)
}

// Run runs every chat's loop for d and waits for them.
func (r Runner) Run(d time.Duration) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range r.Chats {
		wg.Go(func() { r.Loop(ctx, i) })
	}
	wg.Wait()
	return time.Since(start)
}

// Stages is a snapshot of the bot's latency histograms from its /metrics:
// per stage (a store call, a turn, a platform call), how many and how long.
type Stages map[string]*stage

type stage struct {
	count   float64
	sum     float64   // seconds
	bounds  []float64 // bucket upper bounds, seconds
	buckets []float64 // cumulative counts
}

// stageMetrics are the histograms read: name → what the stage is called,
// and the label that tells its kinds apart ("" for none).
var stageMetrics = map[string][2]string{
	"supportbot_store_op_duration_seconds": {"store", "op"},
	"supportbot_turn_duration_seconds":     {"turn (run + commit)", ""},
	"supportbot_api_call_duration_seconds": {"platform API call", ""},
}

// ReadStages scrapes http://addr/metrics.
func ReadStages(addr string) (Stages, error) {
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		return nil, err
	}
	out := Stages{}
	for name, sm := range stageMetrics {
		f := fams[name]
		if f == nil {
			continue
		}
		short, label := sm[0], sm[1]
		for _, m := range f.GetMetric() {
			key := short
			for _, l := range m.GetLabel() {
				if label != "" && l.GetName() == label {
					key += " " + l.GetValue()
				}
			}
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			st := out[key]
			if st == nil {
				st = &stage{}
				out[key] = st
			}
			st.count += float64(h.GetSampleCount())
			st.sum += h.GetSampleSum()
			for i, b := range h.GetBucket() {
				if i >= len(st.bounds) {
					st.bounds = append(st.bounds, b.GetUpperBound())
					st.buckets = append(st.buckets, 0)
				}
				st.buckets[i] += float64(b.GetCumulativeCount())
			}
		}
	}
	return out, nil
}

// Since is what happened between an earlier snapshot and this one.
func (s Stages) Since(before Stages) Stages {
	out := Stages{}
	for k, a := range s {
		d := &stage{count: a.count, sum: a.sum, bounds: a.bounds, buckets: append([]float64(nil), a.buckets...)}
		if b := before[k]; b != nil {
			d.count -= b.count
			d.sum -= b.sum
			for i := range d.buckets {
				if i < len(b.buckets) {
					d.buckets[i] -= b.buckets[i]
				}
			}
		}
		out[k] = d
	}
	return out
}

// quantile estimates the q-quantile from the buckets (linear within one).
func (st *stage) quantile(q float64) float64 {
	if st.count == 0 {
		return 0
	}
	rank := q * st.count
	lo, prev := 0.0, 0.0
	for i, c := range st.buckets {
		if c >= rank {
			if c == prev {
				return st.bounds[i]
			}
			return lo + (st.bounds[i]-lo)*(rank-prev)/(c-prev)
		}
		lo, prev = st.bounds[i], c
	}
	return lo
}

// Notes describes each stage per answered update, slowest first.
func (s Stages) Notes(actions int64) []string {
	keys := make([]string, 0, len(s))
	for k, st := range s {
		if st.count > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return s[keys[i]].sum > s[keys[j]].sum })
	var out []string
	for _, k := range keys {
		st := s[k]
		out = append(out, fmt.Sprintf("%-20s %5.2f per update, mean %s, p50 ~%s, p99 ~%s, %s per update in all",
			k, st.count/float64(max(actions, 1)), ms(time.Duration(st.sum/st.count*float64(time.Second))),
			ms(time.Duration(st.quantile(0.5)*float64(time.Second))), ms(time.Duration(st.quantile(0.99)*float64(time.Second))),
			ms(time.Duration(st.sum/float64(max(actions, 1))*float64(time.Second)))))
	}
	return out
}

// plan is the walk the load tools' users take through the flow, and what
// each action must bring back.
type plan struct {
	pack     *content.Pack
	def      *flows.Definition
	problems []string // the first step's choices
	channels []string // the choices of the step after the optional ones
}

// planStep is one button press and how many messages it must bring.
type planStep struct {
	choice  string
	replies int
}

// newPlan reads the flow: a conversation presses a problem, skips the
// optional questions, presses a channel, then starts over.
func newPlan(def *flows.Definition) (*plan, error) {
	p := &plan{def: def}
	start := def.States[def.Start]
	if start == nil || start.Kind != flows.Choose {
		return nil, errors.New("the flow does not start with a choice")
	}
	for _, c := range start.Choices {
		p.problems = append(p.problems, c.ID)
	}
	for _, name := range def.Order {
		st := def.States[name]
		if st.Kind == flows.Choose && name != def.Start {
			for _, c := range st.Choices {
				p.channels = append(p.channels, c.ID)
			}
			break
		}
	}
	if len(p.channels) == 0 {
		return nil, errors.New("the flow has no second choice")
	}
	return p, nil
}

// steps is one conversation for combination n, from the first question
// back to it.
func (p *plan) steps(n int) []planStep {
	problem := p.problems[n%len(p.problems)]
	channel := p.channels[(n/len(p.problems))%len(p.channels)]
	var out []planStep
	state := p.def.Start
	for range 20 {
		st := p.def.States[state]
		var pick *flows.Choice
		for _, c := range st.Choices {
			switch {
			case pick != nil:
			case st.Kind == flows.Choose && (c.ID == problem || c.ID == channel):
				pick = c
			case st.Kind == flows.Ask && c.Next == st.Next:
				pick = c
			case st.Kind == flows.Answer && c.Reset:
				pick = c
			}
		}
		if pick == nil {
			pick = st.Choices[0]
		}
		next := p.def.States[pick.Next]
		replies := 1
		if next.Kind == flows.Answer {
			replies += len(next.Texts)
		}
		out = append(out, planStep{choice: pick.ID, replies: replies})
		state = pick.Next
		if state == p.def.Start {
			break
		}
	}
	return out
}

// prepare is what a load run needs first: the plan of the shipped pack, a
// temp dir (kept with -keep) and, when asked for, a CPU profile with a
// mutex profile beside it. The returned func ends the profile and removes
// the dir.
func prepare(name string, keep bool, cpuProfile string) (*plan, string, func(), error) {
	pack, err := content.Shipped()
	if err != nil {
		return nil, "", nil, fmt.Errorf("content pack: %w", err)
	}
	pl, err := newPlan(pack.Def)
	if err != nil {
		return nil, "", nil, err
	}
	pl.pack = pack
	tmp, err := os.MkdirTemp("", "supportbot-load-"+name+"-")
	if err != nil {
		return nil, "", nil, err
	}
	var undo []func()
	done := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if keep {
		fmt.Printf("temp dir: %s\n", tmp)
	} else {
		undo = append(undo, func() { os.RemoveAll(tmp) })
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			done()
			return nil, "", nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			done()
			return nil, "", nil, err
		}
		// Where goroutines wait on locks, next to the CPU profile.
		runtime.SetMutexProfileFraction(20)
		undo = append(undo, func() {
			pprof.StopCPUProfile()
			f.Close()
			if mf, err := os.Create(cpuProfile + ".mutex"); err == nil {
				pprof.Lookup("mutex").WriteTo(mf, 0)
				mf.Close()
			}
		})
	}
	return pl, tmp, done, nil
}

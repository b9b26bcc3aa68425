package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/supportbot/supportbot/bot"
)

// health answers /healthz (the process lives) and /readyz (the store
// answers and every platform is connected, and we are not shutting down).
type health struct {
	store     bot.Store
	platforms []platform
	stopping  atomic.Bool
}

func (h *health) live(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (h *health) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if h.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		http.Error(w, "store unreachable", http.StatusServiceUnavailable)
		return
	}
	for _, p := range h.platforms {
		if !p.Ready() {
			http.Error(w, p.Name()+" not connected", http.StatusServiceUnavailable)
			return
		}
	}
	w.Write([]byte("ready\n"))
}

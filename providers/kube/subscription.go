package kube

import "sync"

// subscription collects which of its keys changed since the wait last
// looked; C has a value whenever some did.
type subscription struct {
	c     *clusterCache
	keys  []string
	C     chan struct{}
	mu    sync.Mutex
	dirty map[string]bool
}

// subscribe wakes the returned subscription whenever an object of keys
// changes; close it when the wait ends.
func (c *clusterCache) subscribe(keys []string) *subscription {
	s := &subscription{c: c, keys: keys, C: make(chan struct{}, 1), dirty: map[string]bool{}}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if c.subs[k] == nil {
			c.subs[k] = map[*subscription]bool{}
		}
		c.subs[k][s] = true
	}
	return s
}

func (s *subscription) close() {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	for _, k := range s.keys {
		delete(s.c.subs[k], s)
		if len(s.c.subs[k]) == 0 {
			delete(s.c.subs, k)
		}
	}
}

// changed returns the keys that changed since the last call.
func (s *subscription) changed() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dirty
	s.dirty = map[string]bool{}
	return d
}

func (c *clusterCache) notify(key string) {
	c.mu.Lock()
	subs := make([]*subscription, 0, len(c.subs[key]))
	for s := range c.subs[key] {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		s.dirty[key] = true
		s.mu.Unlock()
		select {
		case s.C <- struct{}{}:
		default:
		}
	}
}

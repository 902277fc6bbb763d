// Package shown tells a report that a harness's Close printed the recorded
// timeline already: the fake server's Close reports after its harness's,
// and one timeline per test is enough.
package shown

import "sync"

var (
	mu      sync.Mutex
	watched = map[any]*bool{}
)

// Watch starts watching key (a harness) for a timeline printed by Mark.
// Call the function it returns when done: it stops the watch and reports
// whether Mark was called since. Watches of one key do not nest: the
// later replaces the earlier.
func Watch(key any) (done func() bool) {
	printed := new(bool)
	mu.Lock()
	watched[key] = printed
	mu.Unlock()
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		if watched[key] == printed {
			delete(watched, key)
		}
		return *printed
	}
}

// Mark notes that the timeline of key was printed, if key is watched.
func Mark(key any) {
	mu.Lock()
	defer mu.Unlock()
	if p := watched[key]; p != nil {
		*p = true
	}
}

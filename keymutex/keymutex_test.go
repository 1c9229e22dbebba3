package keymutex

import (
	"sync"
	"testing"
)

// TestSerializesPerKeyAndForgets runs unsynchronized increments under each key's lock:
// -race reports them if two holders of one key ever overlap.
func TestSerializesPerKeyAndForgets(t *testing.T) {
	var k Map
	var wg sync.WaitGroup
	keys := []string{"a", "b", "c"}
	var counts [3]int
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer k.Lock(keys[i%3])()
			counts[i%3]++
		}()
	}
	wg.Wait()
	if counts != [3]int{100, 100, 100} {
		t.Fatalf("counts %v", counts)
	}
	if n := k.Len(); n != 0 {
		t.Fatalf("%d keys left", n)
	}
}

package fleet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

// publishFlows publishes n flows of nsrc sources through a Publisher and
// returns the flows per source key it expects the fleet to count.
func publishFlows(t *testing.T, brokers []string, target string, first, n, nsrc int, want map[string]uint64) {
	t.Helper()
	pc := DefaultPublisherConfig()
	pc.Brokers, pc.TopicPrefix, pc.Target = brokers, testPrefix, target
	pub, err := NewPublisher(pc)
	if err != nil {
		t.Fatal(err)
	}
	for i := first; i < first+n; i++ {
		src := fmt.Sprintf("10.1.0.%d", i%nsrc)
		pub.Flow(&result.Flow{ID: uint64(i), Proto: "tcp", Packets: 3, Bytes: 300,
			C2S: result.Direction{Packets: 2}, S2C: result.Direction{Packets: 1},
			Session: &result.SessionRef{OuterSrc: src, VNI: 7}}, false)
		want[src]++
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if s := pub.Stats(); s.Produced != uint64(n) {
		t.Fatalf("produced %+v, want %d", s, n)
	}
}

type member struct {
	view   *View
	cancel context.CancelFunc
	done   chan error
}

func startMember(t *testing.T, brokers []string, group string) *member {
	t.Helper()
	v := NewView(DefaultViewConfig())
	c, err := NewConsumer(ConsumerConfig{Brokers: brokers, Group: group, TopicPrefix: testPrefix,
		Opts: []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond), kgo.HeartbeatInterval(100 * time.Millisecond)}}, v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{view: v, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- c.Run(ctx) }()
	return m
}

func (m *member) stop(t *testing.T) {
	m.cancel()
	select {
	case err := <-m.done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("consumer did not stop")
	}
}

// flowsBySource is what a member's view counts, per source.
func flowsBySource(ms ...*member) map[string]uint64 {
	out := map[string]uint64{}
	for _, m := range ms {
		for _, s := range m.view.Report().Sources {
			out[s.Key] += s.Total.Flows
		}
	}
	return out
}

// TestGroupSplitsAndRebalances: two fleet members of one group split the
// partitions (each sees only its sources, together all of them, none
// twice); one is stopped, the other is given its partitions and then
// counts every flow exactly once, including the ones published after.
func TestGroupSplitsAndRebalances(t *testing.T) {
	c := newCluster(t, 4)
	defer c.Close()
	brokers := c.ListenAddrs()
	want := map[string]uint64{}
	publishFlows(t, brokers, "t1", 0, 400, 16, want)

	var once sync.Once
	a := startMember(t, brokers, "g1")
	defer once.Do(func() { a.stop(t) })
	b := startMember(t, brokers, "g1")
	var bStopped bool
	defer func() {
		if !bStopped {
			b.stop(t)
		}
	}()
	waitUntil(t, "both members own partitions and together see every flow", 30*time.Second, func() bool {
		ra, rb := a.view.Report(), b.view.Report()
		return ra.Partitions > 0 && rb.Partitions > 0 && cmp.Equal(flowsBySource(a, b), want)
	})
	// Each source is in one member only.
	fa, fb := flowsBySource(a), flowsBySource(b)
	for k := range fa {
		if _, ok := fb[k]; ok {
			t.Errorf("source %s in both members", k)
		}
	}
	if len(fa) == 0 || len(fb) == 0 {
		t.Fatalf("not split: %d and %d sources", len(fa), len(fb))
	}

	b.stop(t) // leaves the group: a rebalance gives a every partition
	bStopped = true
	publishFlows(t, brokers, "t2", 400, 200, 16, want)
	waitUntil(t, "the remaining member counts every flow once", 30*time.Second, func() bool {
		return cmp.Equal(flowsBySource(a), want)
	})
	// Still exactly once a moment later (nothing re-applied).
	time.Sleep(500 * time.Millisecond)
	if d := cmp.Diff(flowsBySource(a), want); d != "" {
		t.Errorf("after rebalance (-got +want):\n%s", d)
	}
	var total uint64
	for _, n := range want {
		total += n
	}
	if total != 600 {
		t.Fatalf("want %d", total)
	}
}

package fleet

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testPrefix = "mstest"

// newCluster starts an in-process Kafka-protocol cluster (franz-go's
// kfake) with the three topics of testPrefix.
func newCluster(t testing.TB, partitions int32, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	f, fi, s := Topics(testPrefix)
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, f, fi, s)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	return c
}

// freePort returns a loopback TCP port free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// consumed is one record read back from the cluster.
type consumed struct {
	topic     string
	partition int32
	offset    int64
	key       string
	env       *Envelope
	value     []byte
}

// consumeAll reads every topic of testPrefix from the start until want
// records arrived (or the timeout), with a plain (group-less) consumer.
func consumeAll(t testing.TB, brokers []string, want int, timeout time.Duration) []consumed {
	t.Helper()
	f, fi, s := Topics(testPrefix)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(f, fi, s),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []consumed
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			env, err := Decode(r.Value)
			if err != nil {
				t.Errorf("record %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
				return
			}
			out = append(out, consumed{r.Topic, r.Partition, r.Offset, string(r.Key), env, r.Value})
		})
	}
	// Anything past want would be a duplicate: give it a moment to show.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	cl.PollFetches(ctx2).EachRecord(func(r *kgo.Record) {
		env, err := Decode(r.Value)
		if err == nil {
			out = append(out, consumed{r.Topic, r.Partition, r.Offset, string(r.Key), env, r.Value})
		}
	})
	return out
}

func waitUntil(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// callWithin fails the test when f does not return within d: the
// publisher's Tap methods must never wait for the brokers.
func callWithin(t testing.TB, d time.Duration, f func()) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	done := make(chan struct{})
	go func() { defer wg.Done(); f(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("Tap calls blocked for more than %s", d)
	}
	wg.Wait()
}

func itoa(i int) string { return strconv.Itoa(i) }

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

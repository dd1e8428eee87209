package fleet

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// Sources maps outer source addresses (the address a source ENI sends
// its mirror stream from) to the ENI and instance, so records can be
// keyed and merged by instance. A target knows only the address; the
// mapping comes from the user (e.g. `aws ec2 describe-network-interfaces`).
type Sources struct {
	m map[netip.Addr]sourceID
}

type sourceID struct{ eni, instance string }

// LoadSources reads a sources file: one source per line, "ADDRESS ENI
// [INSTANCE]", '#' comments.
func LoadSources(path string) (*Sources, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	defer f.Close()
	s, err := ParseSources(f)
	if err != nil {
		return nil, fmt.Errorf("sources %s: %w", path, err)
	}
	return s, nil
}

// ParseSources parses the format of LoadSources.
func ParseSources(r io.Reader) (*Sources, error) {
	s := &Sources{m: map[netip.Addr]sourceID{}}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("line %d: want ADDRESS ENI [INSTANCE]", n)
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		id := sourceID{eni: f[1]}
		if len(f) == 3 {
			id.instance = f[2]
		}
		s.m[a.Unmap()] = id
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// Source returns the Source of a session (outer source, VNI). Without
// a mapping for the address, the key is the address itself.
func (s *Sources) Source(outerSrc string, vni uint32) Source {
	src := Source{Key: outerSrc, KeyKind: "outer_src", OuterSrc: outerSrc, VNI: vni}
	if s == nil {
		return src
	}
	a, err := netip.ParseAddr(outerSrc)
	if err != nil {
		return src
	}
	id, ok := s.m[a.Unmap()]
	if !ok {
		return src
	}
	src.ENI, src.Instance = id.eni, id.instance
	if id.instance != "" {
		src.Key, src.KeyKind = id.instance, "instance"
	} else {
		src.Key, src.KeyKind = id.eni, "eni"
	}
	return src
}

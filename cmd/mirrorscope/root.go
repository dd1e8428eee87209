package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=..."; when
// it is not, toolVersion reads what the Go toolchain stamped.
var version = "dev"

// toolVersion names this build: the -ldflags version, else the module
// version `go install ...@vX` stamps, else the VCS revision a `go build`
// in a checkout stamps ("devel+<rev>[-dirty]"), else "dev" (go test and
// builds outside a checkout stamp nothing).
func toolVersion() string {
	if version != "dev" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return version
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel+" + rev
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "mirrorscope",
		Short: "Analyse AWS VPC Traffic Mirroring and plain captures: flows, TCP analysis, shaping diagnosis",
		Long: `mirrorscope is the target and the analyst of AWS VPC Traffic Mirroring.

It decodes plain captures and captures of the mirror stream itself (VXLAN on
UDP 4789, and GENEVE on UDP 6081 around VXLAN behind a Gateway Load
Balancer), keeps every mirror session (outer source, VNI) apart, follows
every TCP/UDP/ICMP flow, gives Wireshark's TCP expert verdicts and names
what limits each flow.`,
		Version:       toolVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%v (see '%s --help')", err, c.CommandPath())
	})
	// --cpuprofile is for performance reports: hidden, since it is for
	// whoever investigates a slow run, not for everyday use.
	var cpuprofile string
	var profFile *os.File
	root.PersistentFlags().StringVar(&cpuprofile, "cpuprofile", "", "write a Go CPU profile to this file")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if cpuprofile == "" {
			return nil
		}
		f, err := os.Create(cpuprofile)
		if err != nil {
			return usageErr("--cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		profFile = f
		return nil
	}
	root.PersistentPostRunE = func(*cobra.Command, []string) error {
		if profFile == nil {
			return nil
		}
		pprof.StopCPUProfile()
		return profFile.Close()
	}
	// Subcommands. Each lives in its own file.
	root.AddCommand(
		newAnalyzeCmd(),
		newPacketsCmd(),
		newFilterCmd(),
		newListenCmd(),
		newReplayCmd(),
		newMirrorCmd(),
		newAWSCmd(),
		newFleetCmd(),
	)
	// Wrong arguments are usage errors (exit 2), like wrong flags: the
	// root's unknown subcommands, and every command's own Args check.
	root.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErr("unknown command %q (see '%s --help')", args[0], c.CommandPath())
		}
		return nil
	}
	root.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	usageArgs(root)
	return root
}

// usageArgs makes the Args check of c and its subcommands return usage
// errors.
func usageArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
	check := c.Args
	if check == nil || c == c.Root() {
		return
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		err := check(cmd, args)
		var ee *exitError
		if err != nil && !errors.As(err, &ee) {
			return usageErr("%v (see '%s --help')", err, cmd.CommandPath())
		}
		return err
	}
}

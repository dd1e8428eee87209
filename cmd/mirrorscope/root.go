package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

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
		Version:       version,
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
		newFleetCmd(),
	)
	return root
}

package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/validation"
)

type validateOptions struct {
	source   sourceFlags
	cluster  clusterFlags
	output   string
	junitOut string
}

func newValidateCommand() *cobra.Command {
	o := &validateOptions{output: "text"}
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the tree offline; exit 0 without errors, 1 with errors",
		Args:  cobra.NoArgs,
		RunE:  runE(o),
	}
	o.source.register(cmd.Flags())
	cmd.Flags().StringVar(&o.cluster.kubeconfig, "kubeconfig", "", "also ask this cluster which kinds it serves (a kind it does not serve is then an error), and check custom resources against its CustomResourceDefinitions")
	cmd.Flags().StringVar(&o.cluster.context, "context", "", "kubeconfig context to ask, as --kubeconfig")
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "text, json or junit (for GitLab's test report)")
	cmd.Flags().StringVar(&o.junitOut, "junit-out", "", "also write the findings as JUnit XML to this file (GitLab's test report), while the log shows them")
	return cmd
}

// clusterCRDs are the cluster's CustomResourceDefinitions, for checking
// custom resources offline as the cluster would.
func clusterCRDs(ctx context.Context, clients *cluster.Clients) ([]manifest.Object, error) {
	list, err := clients.Dynamic.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]manifest.Object, len(list.Items))
	for i := range list.Items {
		out[i] = manifest.Object{Unstructured: &list.Items[i], Origin: manifest.Origin{File: "cluster:customresourcedefinitions/" + list.Items[i].GetName()}}
	}
	return out, nil
}

func writeDiagnostics(w io.Writer, ds []validation.Diagnostic, format string) error {
	switch format {
	case "json":
		if ds == nil {
			ds = []validation.Diagnostic{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(ds)
	case "junit":
		return writeJUnit(w, ds)
	}
	if len(ds) == 0 {
		_, err := fmt.Fprintln(w, "no problems found")
		return err
	}
	printDiagnostics(w, ds)
	return nil
}

type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit reports each error as a failed test case and each warning as a
// passed one with the warning in its output, so GitLab's MR widget lists them.
func writeJUnit(w io.Writer, ds []validation.Diagnostic) error {
	s := junitSuite{Name: "modelsync validate"}
	for _, d := range ds {
		c := junitCase{Name: d.Origin.String() + " " + d.Rule, Classname: d.Object, File: d.Origin.File}
		if c.Classname == "" {
			c.Classname = d.Origin.File
		}
		if d.Severity == validation.Error {
			c.Failure = &junitFailure{Message: d.Message, Type: d.Rule, Text: d.String()}
			s.Failures++
		} else {
			c.SystemOut = d.String()
		}
		s.Cases = append(s.Cases, c)
	}
	if len(s.Cases) == 0 {
		s.Cases = []junitCase{{Name: "models-config", Classname: "modelsync validate"}}
	}
	s.Tests = len(s.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func (o *validateOptions) Validate() error {
	return oneOf("-o", o.output, "text", "json", "junit")
}

func (o *validateOptions) Run(ctx context.Context, out, errOut io.Writer) error {
	src, err := o.source.open(ctx)
	if err != nil {
		return err
	}
	ns := src.offlineNamespace()
	var view clusterView
	if o.cluster.kubeconfig != "" || o.cluster.context != "" {
		clients, _, err := o.cluster.connect(ns)
		if err != nil {
			return err
		}
		view.served = servedBy(clients)
		crds, err := clusterCRDs(ctx, clients)
		if err != nil {
			fmt.Fprintf(errOut, "warning: the cluster's CustomResourceDefinitions cannot be read (%v): custom resources are checked against --crds only\n", err)
		}
		view.crds = crds
	}
	set, err := src.load(ctx, ns, view)
	if err != nil {
		return err
	}
	if err := writeDiagnostics(out, set.Diagnostics, o.output); err != nil {
		return err
	}
	if err := writeFile(o.junitOut, func(w io.Writer) error { return writeJUnit(w, set.Diagnostics) }); err != nil {
		return err
	}
	if set.HasErrors() {
		return exitCode(exitChanges)
	}
	return nil
}

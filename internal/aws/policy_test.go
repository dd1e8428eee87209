package aws

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestPolicyCoversCalls finds every c.call(ctx, SERVICE, "Action", ...)
// in this package's source and checks the policy lists SERVICE:Action,
// and that docs/aws.md shows the same policy.
func TestPolicyCoversCalls(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	prefix := map[string]string{"EC2": "ec2", "CloudWatch": "cloudwatch", "ELBv2": "elasticloadbalancing"}
	var called []string
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				ce, ok := n.(*ast.CallExpr)
				if !ok || len(ce.Args) < 3 {
					return true
				}
				sel, ok := ce.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if sel.Sel.Name == "pages" { // c.pages(ctx, "DescribeX", ...): EC2
					if lit, ok := ce.Args[1].(*ast.BasicLit); ok {
						a, _ := strconv.Unquote(lit.Value)
						called = append(called, "ec2:"+a)
					} else {
						t.Errorf("%s: pages with a computed action", fset.Position(ce.Pos()))
					}
					return true
				}
				if sel.Sel.Name != "call" {
					return true
				}
				if id, ok := ce.Args[2].(*ast.Ident); ok && id.Name == "action" {
					return true // inside pages, whose callers are checked above
				}
				svc, ok1 := ce.Args[1].(*ast.Ident)
				lit, ok2 := ce.Args[2].(*ast.BasicLit)
				if !ok1 || !ok2 {
					t.Errorf("%s: call with a computed service or action: the policy test cannot check it", fset.Position(ce.Pos()))
					return true
				}
				a, _ := strconv.Unquote(lit.Value)
				called = append(called, prefix[svc.Name]+":"+a)
				return true
			})
		}
	}
	if len(called) < 10 {
		t.Fatalf("found only %d calls: %v", len(called), called)
	}
	all := AllActions()
	for _, a := range called {
		if !slices.Contains(all, a) {
			t.Errorf("the code calls %s but the IAM policy lacks it", a)
		}
	}
	doc, err := os.ReadFile("../../docs/aws.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), Policy()) {
		t.Errorf("docs/aws.md does not show the current policy:\n%s", Policy())
	}
}

// Command modelsync makes a Kubernetes namespace match a models-config/ tree.
package main

import "os"

func main() {
	os.Exit(Execute(os.Args[1:], os.Stdout, os.Stderr))
}

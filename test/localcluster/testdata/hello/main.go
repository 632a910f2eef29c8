// Command hello is the smallest image TestNode builds with ko and runs in a
// pod, to check Cluster.KoBuild end to end.
package main

import "fmt"

func main() { fmt.Println("hello-from-ko") }

// Package report writes a plan for the people who read it: the text a
// terminal or CI log shows, the merge request note (markdown, within
// GitLab's size limit, text from the tree only inside code), and the dotenv
// counts a job script reads. It only reads a *diff.Plan; deciding what the
// plan is belongs to package diff.
package report

// The YAML parser in a module of its own, imported dynamically by kubeconfig.ts: the in-cluster
// path never loads it. (A dynamic import('yaml') itself would not do: in the bundle, a split
// CommonJS module offers only its default export.)
export { parse as parseYaml } from 'yaml'

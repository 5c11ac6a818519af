# nothing here
// or here

package plan

// summarize counts what the plan changes, per wave and in all, and its
// checks by severity.
func (c *computer) summarize() {
	s := &c.p.Summary
	waves := map[string]*WaveSummary{}
	for _, w := range c.cfg.Waves {
		s.Waves = append(s.Waves, WaveSummary{Name: w.Name, FromImage: c.sourceImage(), ToImage: c.targetImage(),
			Deleted: c.deletedIn[w.Name], OptedOut: c.optedOutIn[w.Name]})
	}
	for i := range s.Waves {
		waves[s.Waves[i].Name] = &s.Waves[i]
	}
	for _, st := range c.p.Steps {
		ws := waves[st.Wave]
		switch st.Kind {
		case StepNamespaceRelabel:
			if ws != nil {
				ws.Namespaces++
			}
		case StepWorkloadRestart, StepWorkloadEvict:
			if ws != nil {
				ws.Workloads++
				ws.Pods += st.Pods
			}
		}
		if st.Action == ActionNoop || st.Action == ActionRead {
			continue
		}
		s.Changes++
		switch st.Kind {
		case StepNamespaceRelabel:
			s.Relabel++
		case StepWorkloadRestart:
			s.Restart++
		case StepWorkloadEvict:
			s.Evict++
		case StepGatewayMigrate:
			s.Gateways++
		case StepTagMove:
			s.Tags++
		case StepUninstall:
			s.Uninstall++
		case StepInstall:
			for _, o := range st.Manifest {
				if o.Action != ActionNoop {
					s.Install++
				}
			}
		}
	}
	if s.Waves == nil {
		s.Waves = []WaveSummary{}
	}
	for _, ch := range c.p.Checks {
		if ch.Severity == SeverityError {
			s.Errors++
		} else {
			s.Warnings++
		}
	}
}

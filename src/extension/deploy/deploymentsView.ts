import * as vscode from 'vscode';

/**
 * The Deployments view. Deployment arrives with a later issue; until then the view is empty, so that VS Code shows
 * its welcome content (package.json, viewsWelcome).
 */
export class DeploymentsView implements vscode.TreeDataProvider<never> {
  getChildren(): never[] {
    return [];
  }
  getTreeItem(element: never): vscode.TreeItem {
    return element;
  }
}
